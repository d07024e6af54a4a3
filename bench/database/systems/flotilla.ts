import { fileURLToPath } from 'node:url';
import { freePort, imageNodeFlags, mintApiKey, spawnService, startRedis, writeApiKeysFile } from '@flotilla/testkit';
import { looksLikeToolSuccess, mcpHeaders, toolResultOf, toolsCallBody } from '../mcp.ts';
import type { Row, RunningSystem, SystemContext } from './system.ts';

const MAIN = fileURLToPath(new URL('../../../services/database/dist/main.js', import.meta.url));
/** Node's flags as the image's entry point passes them (--liftoff-only --expose-gc: see docker/Dockerfile). */
const NODE_FLAGS = imageNodeFlags(fileURLToPath(new URL('../../../docker/Dockerfile', import.meta.url)));
// High enough never to refuse a request in a benchmark, yet every request still spends a point in Redis.
const RATE_LIMIT_PER_MINUTE = 1_000_000_000;
/** The `query` tool's rows per answer unless the call asks for more with `maxRows` (services/database/src/server.ts). */
const DEFAULT_ROWS = 100;
/** DB_MAX_ROWS's default: the most rows `maxRows` may ask for. */
const DEFAULT_MAX_ROWS = 1000;

/**
 * Flotilla's database server as it runs in production: its own process, API-key auth, and the
 * per-principal rate limit kept in a real Redis, consulted on every request. With `replicas` > 1,
 * that many processes share one port (REUSE_PORT: the kernel spreads the load generator's
 * connections over them) and one Redis, and split the Postgres pool between them, so the system
 * as a whole holds the same number of connections as the others.
 */
export async function startFlotilla(
  context: SystemContext,
  nodeOptions?: string,
  replicas = 1,
): Promise<RunningSystem> {
  const redis = await startRedis();
  const services: Awaited<ReturnType<typeof spawnService>>[] = [];
  try {
    const apiKey = mintApiKey({ subject: 'bench', tenant: 'bench', scopes: ['db:read'] });
    const keysFile = await writeApiKeysFile([apiKey.entry]);
    const port = String(await freePort());
    const mostRows = Math.max(...context.queries.map((query) => query.rows));
    const headers = { ...mcpHeaders('query', context.protocol), authorization: `Bearer ${apiKey.key}` };
    for (let replica = 0; replica < replicas; replica++) {
      services.push(
        await spawnService(
          MAIN,
          {
            AUTH_MODE: 'api-key',
            AUTH_API_KEYS_FILE: keysFile,
            DATABASE_URL: context.runtimeUrl,
            DB_POOL_MAX: String(Math.max(1, Math.floor(context.poolSize / replicas))),
            REDIS_URL: redis.url,
            RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
            // The default (64) unless the benchmark opens more connections than that: nothing may be shed.
            MAX_INFLIGHT: String(Math.max(64, context.connections)),
            // Likewise the row cap: every answer asked for must come back whole, never `truncated`.
            DB_MAX_ROWS: String(Math.max(DEFAULT_MAX_ROWS, mostRows)),
            // The production default: one audit line per tool call, as Toolbox writes one access line per request.
            LOG_LEVEL: 'info',
            // Stop promptly once the measurement is over, within spawnService's grace (and with the CPU profile written).
            SHUTDOWN_DELAY_MS: '0',
            SHUTDOWN_TIMEOUT_MS: '2000',
            PORT: port,
            ...(replicas > 1 ? { REUSE_PORT: 'true' } : {}),
            ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
          },
          undefined,
          [],
          NODE_FLAGS,
        ),
      );
    }
    const [service] = services as [(typeof services)[number]];
    return {
      name: replicas > 1 ? 'flotilla-2' : 'flotilla',
      description:
        replicas > 1
          ? `the same, ${replicas} replicas sharing its port (REUSE_PORT) and Redis, the pool split between them`
          : 'Flotilla database server, `query` tool: MCP Streamable HTTP, API key, Redis rate limit',
      url: service.mcpUrl,
      pids: services.flatMap((replica) => (replica.child.pid ? [replica.child.pid] : [])),
      request: (query, customerId) => ({
        headers,
        // As an agent would: `maxRows` only when the default page would cut the answer short.
        body: toolsCallBody(
          'query',
          {
            sql: query.statement,
            params: [customerId],
            ...(query.rows > DEFAULT_ROWS ? { maxRows: query.rows } : {}),
          },
          context.protocol,
        ),
      }),
      rowsOf: (contentType, body) =>
        (toolResultOf(contentType, body).structuredContent as { rows: Row[] } | undefined)?.rows ?? [],
      isSuccess: looksLikeToolSuccess,
      async stop() {
        await Promise.all(services.map((replica) => replica.stop()));
        await redis.destroy();
      },
    };
  } catch (error) {
    await Promise.all(services.map((replica) => replica.stop()));
    await redis.destroy();
    throw error;
  }
}
