export { type ApiKeyEntry, mintApiKey, writeApiKeysFile } from './api-keys.js';
export { type MintClaims, startTestIssuer, type TestIssuer } from './issuer.js';
export { type ConnectOptions, connectMcpClient } from './mcp-client.js';
export { freePort } from './net.js';
export {
  NOTIFICATIONS_ROLES,
  type NotificationsDatabase,
  prepareNotificationsDatabase,
} from './notifications-database.js';
export { type PostgresInstance, type StartPostgresOptions, startPostgres } from './postgres.js';
export { type RedisInstance, startRedis } from './redis.js';
export { imageNodeFlags, type ServiceProcess, spawnService } from './service-process.js';
export { queryOnce, runSqlFile } from './sql-file.js';
export { LOCAL_TEST_SERVER_ENV } from './test-server-env.js';
export {
  callTool,
  ERROR_CODES,
  type ErrorCode,
  errorOf,
  resultOf,
  TOOL_ERROR_META_KEY,
  type ToolErrorShape,
  type ToolOutcome,
} from './tool-results.js';
