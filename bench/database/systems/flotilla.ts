import { fileURLToPath } from 'node:url';
import { mintApiKey, spawnService, startRedis, writeApiKeysFile } from '@flotilla/testkit';
import { looksLikeToolSuccess, mcpHeaders, toolResultOf, toolsCallBody } from '../mcp.ts';
import type { Row, RunningSystem, SystemContext } from './system.ts';

const MAIN = fileURLToPath(new URL('../../../services/database/dist/main.js', import.meta.url));
// High enough never to refuse a request in a benchmark, yet every request still spends a point in Redis.
const RATE_LIMIT_PER_MINUTE = 1_000_000_000;

/**
 * Flotilla's database server as it runs in production: its own process, API-key auth, and the
 * per-principal rate limit kept in a real Redis, consulted on every request.
 */
export async function startFlotilla(context: SystemContext, nodeOptions?: string): Promise<RunningSystem> {
  const redis = await startRedis();
  try {
    const apiKey = mintApiKey({ subject: 'bench', tenant: 'bench', scopes: ['db:read'] });
    const service = await spawnService(MAIN, {
      AUTH_MODE: 'api-key',
      AUTH_API_KEYS_FILE: await writeApiKeysFile([apiKey.entry]),
      DATABASE_URL: context.runtimeUrl,
      DB_POOL_MAX: String(context.poolSize),
      REDIS_URL: redis.url,
      RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
      // The default (64) unless the benchmark opens more connections than that: nothing may be shed.
      MAX_INFLIGHT: String(Math.max(64, context.connections)),
      // The production default: one audit line per tool call, as Toolbox writes one access line per request.
      LOG_LEVEL: 'info',
      SHUTDOWN_DELAY_MS: '0',
      // A request whose client left while it awaited auth or Redis stays counted as in flight for good
      // (http-app.ts attaches its 'close' listener too late), so the drain after the load can only time
      // out. 2 s instead of 20 keeps the stop inside spawnService's 10 s grace, and the CPU profile.
      SHUTDOWN_TIMEOUT_MS: '2000',
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    });
    return {
      name: 'flotilla',
      description: 'Flotilla database server, `query` tool: MCP Streamable HTTP, API key, Redis rate limit',
      url: service.mcpUrl,
      headers: { ...mcpHeaders('query', context.protocol), authorization: `Bearer ${apiKey.key}` },
      pids: service.child.pid ? [service.child.pid] : [],
      requestBody: (customerId) =>
        toolsCallBody('query', { sql: context.statement, params: [customerId] }, context.protocol),
      rowsOf: (contentType, body) =>
        (toolResultOf(contentType, body).structuredContent as { rows: Row[] } | undefined)?.rows ?? [],
      isSuccess: looksLikeToolSuccess,
      async stop() {
        await service.stop();
        await redis.destroy();
      },
    };
  } catch (error) {
    await redis.destroy();
    throw error;
  }
}
