import { fileURLToPath } from 'node:url';
import { mintApiKey, spawnService, startRedis, writeApiKeysFile } from '@flotilla/testkit';
import { DIRECTORY_ENTRIES, DIRECTORY_NAME, FLOTILLA_TENANT } from '../dataset.ts';
import {
  type Connection,
  checkNames,
  checkText,
  connectHttp,
  connectStdio,
  packageVersion,
  type RunningSystem,
  requireTools,
  type StartOptions,
  type SystemName,
  successOf,
  TAIL_BYTES,
  toolProbe,
} from './system.ts';

export const FLOTILLA_MAIN = fileURLToPath(new URL('../../../services/files/dist/main.js', import.meta.url));
/** FILES_MAX_READ_BYTES's default (services/files/src/config.ts): the most one read_file returns. */
const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;
// High enough never to refuse a call in a benchmark, yet every call is still counted against a budget kept in Redis.
const RATE_LIMIT_PER_MINUTE = 1_000_000_000;
/** MAX_INFLIGHT's default (libs/runtime/src/config.ts). */
const DEFAULT_MAX_INFLIGHT = 64;

/** The variables both of Flotilla's transports get: the dataset, logs at warn, every document read whole. */
function filesEnv(options: StartOptions): Record<string, string> {
  const largest = Math.max(...options.dataset.documents.map((document) => document.bytes));
  return {
    FILES_ROOT: options.dataset.filesRoot,
    // The default already reads 4 MiB whole (only more is TOO_LARGE); set so any --sizes is read whole too.
    FILES_MAX_READ_BYTES: String(Math.max(DEFAULT_MAX_READ_BYTES, largest)),
    LOG_LEVEL: 'warn',
    ...(options.nodeOptions ? { NODE_OPTIONS: options.nodeOptions } : {}),
  };
}

function version(): string {
  return packageVersion(fileURLToPath(new URL('../../../services/files/package.json', import.meta.url)));
}

/** The same two questions on either transport: read_file of a document, one page of all 1,000 entries. */
function probesOf(name: SystemName, connection: Connection, options: StartOptions) {
  const { client } = connection;
  return {
    read: (document: Parameters<RunningSystem['read']>[0]) =>
      toolProbe(client, 'read_file', { name: 'read_file', arguments: { path: document.name } }, (result) => {
        const answer = successOf(name, result);
        if (answer.encoding !== 'utf8' || answer.eof !== true) {
          throw new Error(
            `${name}: read_file did not return the whole file as text: ${JSON.stringify(answer).slice(0, 1000)}`,
          );
        }
        checkText(name, String(answer.content), document);
      }),
    listings: [
      // Its default page is 200 entries; one page of all 1,000 is what the reference server returns.
      toolProbe(
        client,
        'list_directory',
        { name: 'list_directory', arguments: { path: DIRECTORY_NAME, limit: DIRECTORY_ENTRIES } },
        (result) => {
          const answer = successOf(name, result) as { entries?: { name: string }[]; nextCursor?: string | null };
          if (answer.nextCursor !== null) throw new Error(`${name}: list_directory returned more than one page`);
          checkNames(
            name,
            'list_directory',
            (answer.entries ?? []).map((entry) => entry.name),
            options.dataset,
          );
        },
      ),
    ],
  };
}

/**
 * Flotilla's files server as a local agent host runs it: `--stdio`, no auth (stdio is the user's own
 * child process), the tenant `local`, no Redis, and logs at warn, so no per-call audit line is written.
 */
export async function startFlotilla(options: StartOptions): Promise<RunningSystem> {
  const connection = await connectStdio(
    'flotilla',
    { args: [FLOTILLA_MAIN, '--stdio'], env: filesEnv(options) },
    options.negotiation,
  );
  try {
    requireTools('flotilla', connection.tools, ['read_file', 'list_directory']);
  } catch (error) {
    await connection.close();
    throw error;
  }
  return {
    name: 'flotilla',
    description:
      'Flotilla files server (`services/files/dist/main.js --stdio`), tools `read_file` and `list_directory` ' +
      `(limit ${DIRECTORY_ENTRIES}), relative paths, LOG_LEVEL=warn, no Redis`,
    serverVersion: `${connection.serverVersion} (@flotilla/files ${version()})`,
    protocolVersion: connection.protocolVersion,
    pid: connection.pid,
    ...probesOf('flotilla', connection, options),
    outputTail: connection.outputTail,
    stop: connection.close,
  };
}

/**
 * The same server as it runs deployed: its own HTTP process, API-key auth (a key with the one scope
 * these tools need, for the tenant whose tree the dataset is), the per-principal rate limit kept in a
 * real, throwaway Redis, and MAX_INFLIGHT raised to what the benchmark keeps in flight, so nothing
 * is shed. Logs at warn like the stdio system, so the two differ by transport, auth and rate limit
 * only (no per-call audit line on either).
 */
export async function startFlotillaHttp(options: StartOptions): Promise<RunningSystem> {
  const redis = await startRedis();
  let service: Awaited<ReturnType<typeof spawnService>> | undefined;
  let connection: Connection | undefined;
  const stop = async () => {
    await connection?.close().catch(() => undefined);
    // Within spawnService's grace, so the CPU profile (if asked) is written on the way out.
    await service?.stop();
    await redis.destroy();
  };
  try {
    const apiKey = mintApiKey({ subject: 'bench', tenant: FLOTILLA_TENANT, scopes: ['files:read'] });
    service = await spawnService(FLOTILLA_MAIN, {
      ...filesEnv(options),
      AUTH_MODE: 'api-key',
      AUTH_API_KEYS_FILE: await writeApiKeysFile([apiKey.entry]),
      REDIS_URL: redis.url,
      RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
      MAX_INFLIGHT: String(Math.max(DEFAULT_MAX_INFLIGHT, options.maxInFlight)),
      SHUTDOWN_DELAY_MS: '0',
      SHUTDOWN_TIMEOUT_MS: '2000',
    });
    connection = await connectHttp(
      'flotilla-http',
      service.mcpUrl,
      { Authorization: `Bearer ${apiKey.key}` },
      options.negotiation,
    );
    requireTools('flotilla-http', connection.tools, ['read_file', 'list_directory']);
    const running = service;
    return {
      name: 'flotilla-http',
      description:
        'the same server over Streamable HTTP (`services/files/dist/main.js`), AUTH_MODE=api-key with a `files:read` key ' +
        `(\`Authorization: Bearer flt_…\`), per-principal rate limit in Redis (${RATE_LIMIT_PER_MINUTE}/min, never refuses), ` +
        'LOG_LEVEL=warn',
      serverVersion: `${connection.serverVersion} (@flotilla/files ${version()})`,
      protocolVersion: connection.protocolVersion,
      pid: running.child.pid ?? 0,
      ...probesOf('flotilla-http', connection, options),
      outputTail: () => running.stderr().slice(-TAIL_BYTES),
      stop,
    };
  } catch (error) {
    const tail = service?.stderr().slice(-TAIL_BYTES) ?? '';
    await stop();
    throw tail ? new Error(`${(error as Error).message}\n${tail}`) : error;
  }
}
