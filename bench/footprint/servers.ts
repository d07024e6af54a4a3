import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  mintApiKey,
  type PostgresInstance,
  prepareNotificationsDatabase,
  queryOnce,
  runSqlFile,
  writeApiKeysFile,
} from '@flotilla/testkit';
import type { ToolResult } from '../database/mcp.ts';
import type { ServerName } from './settings.ts';

const repo = (relative: string) => fileURLToPath(new URL(`../../${relative}`, import.meta.url));
/** What `node` runs for each server: the built services, and the floor as plain JavaScript like them (a .ts file would load Node.js's type stripper, some 30 MB). */
export const MAINS: Readonly<Record<ServerName, string>> = {
  database: repo('services/database/dist/main.js'),
  files: repo('services/files/dist/main.js'),
  notifications: repo('services/notifications/dist/main.js'),
  floor: fileURLToPath(new URL('./floor-server.js', import.meta.url)),
};

const TENANT = 'bench';
/** Every scope the three measured tools (and the one send that gives notifications something to read) need. */
const SCOPES = ['db:read', 'files:read', 'notify:read', 'notify:send'];
/** The size of the file read_file reads. */
export const FILE_BYTES = 4096;
const FILE_NAME = 'page-4k.txt';
const ITEMS = 100;

/** Makes one tool call and returns its result; throws unless it is a success. */
export type CallTool = (tool: string, args: Record<string, unknown>) => Promise<ToolResult>;

/** One server as the benchmark runs it: its own environment and the cheap read it is measured with. */
export interface ServerUnderTest {
  readonly name: ServerName;
  readonly main: string;
  /** Its own variables, on top of the ones every server gets (auth, Redis, log level, ports). */
  readonly env: Readonly<Record<string, string>>;
  readonly tool: string;
  /** One line for the report: what each measured call does. */
  readonly description: string;
  /** The measured call's arguments; may make calls first (notifications sends one notification to read back). */
  callArguments(call: CallTool): Promise<Record<string, unknown>>;
}

export interface Fixture {
  readonly apiKey: string;
  /** Production-like variables every server gets: API-key auth, the shared Redis, the default log level. */
  readonly commonEnv: Readonly<Record<string, string>>;
  readonly servers: Readonly<Record<ServerName, ServerUnderTest>>;
  readonly postgresVersion: string;
  close(): Promise<void>;
}

/**
 * Everything the three servers need before the first start is timed, done once: the database
 * server's table and least-privilege role, the notifications database migrated with its roles,
 * a channels file pointing at a local webhook receiver, the files workspace with a 4 KiB file,
 * and one API key for all of them.
 */
export async function prepareFixture(postgres: PostgresInstance, redisUrl: string): Promise<Fixture> {
  const workDir = await mkdtemp(join(tmpdir(), 'flotilla-footprint-'));
  const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
  process.once('exit', removeWorkDir);
  const receiver = await startWebhookReceiver();
  try {
    const databaseUrl = await prepareDatabase(postgres);
    const notificationsUrl = await prepareNotifications(postgres);
    const filesRoot = join(workDir, 'workspace');
    await mkdir(join(filesRoot, TENANT), { recursive: true });
    await writeFile(join(filesRoot, TENANT, FILE_NAME), pageOfText(FILE_BYTES));
    const channelsFile = join(workDir, 'channels.json');
    const channels = [{ name: 'ops-webhook', kind: 'webhook', url: receiver.url, secret: receiver.secret }];
    await writeFile(channelsFile, JSON.stringify({ channels }), { mode: 0o600 });
    const key = mintApiKey({ subject: 'footprint', tenant: TENANT, scopes: SCOPES });
    const version = await queryOnce(postgres.url, 'SHOW server_version');
    return {
      apiKey: key.key,
      commonEnv: {
        AUTH_MODE: 'api-key',
        AUTH_API_KEYS_FILE: await writeApiKeysFile([key.entry]),
        // The production default: one audit line per call.
        LOG_LEVEL: 'info',
        // High enough never to refuse one of the calls; every call still spends its point through Redis.
        RATE_LIMIT_PER_MINUTE: '1000000000',
        // Only how fast a stopped start ends; nothing measured happens during shutdown.
        SHUTDOWN_DELAY_MS: '0',
        SHUTDOWN_TIMEOUT_MS: '2000',
        // Start-up waits for the first Redis connection, as in production.
        REDIS_URL: redisUrl,
      },
      servers: {
        database: {
          name: 'database',
          main: MAINS.database,
          env: { DATABASE_URL: databaseUrl },
          tool: 'query',
          description: `query: SELECT id, name FROM footprint_items WHERE id = $1 (one of ${ITEMS} rows)`,
          callArguments: async () => ({ sql: 'SELECT id, name FROM footprint_items WHERE id = $1', params: [42] }),
        },
        files: {
          name: 'files',
          main: MAINS.files,
          env: { FILES_ROOT: filesRoot },
          tool: 'read_file',
          description: `read_file: a ${FILE_BYTES}-byte text file`,
          callArguments: async () => ({ path: FILE_NAME }),
        },
        notifications: {
          name: 'notifications',
          main: MAINS.notifications,
          env: { DATABASE_URL: notificationsUrl, NOTIFY_CHANNELS_FILE: channelsFile },
          tool: 'get_notification',
          description: 'get_notification: one notification sent (and delivered to a local webhook) before the calls',
          async callArguments(call) {
            const sent = await call('send_notification', {
              channel: 'ops-webhook',
              body: 'footprint benchmark',
              idempotencyKey: `footprint-${randomUUID()}`,
            });
            const id = (sent.structuredContent as { id?: string } | undefined)?.id;
            if (!id) throw new Error(`send_notification answered without an id: ${JSON.stringify(sent)}`);
            return { id };
          },
        },
        floor: {
          name: 'floor',
          main: MAINS.floor,
          env: {},
          tool: 'read_file',
          description: 'bare node:http answering every POST with the same 4 KiB tool result: what Node.js itself holds',
          callArguments: async () => ({}),
        },
      },
      postgresVersion: String(version.rows[0]?.server_version ?? 'unknown'),
      async close() {
        await receiver.close();
        removeWorkDir();
        process.removeListener('exit', removeWorkDir);
      },
    };
  } catch (error) {
    await receiver.close();
    removeWorkDir();
    throw error;
  }
}

/** A small table and the database server's own least-privilege role (the script operators run). */
async function prepareDatabase(postgres: PostgresInstance): Promise<string> {
  await queryOnce(
    postgres.url,
    `CREATE TABLE footprint_items (id integer PRIMARY KEY, name text NOT NULL);
     INSERT INTO footprint_items SELECT g, 'item ' || g FROM generate_series(1, ${ITEMS}) AS g;`,
  );
  await runSqlFile(postgres.url, repo('services/database/sql/runtime-role.sql'), {
    role: 'flotilla_footprint',
    password: 'footprint-password',
    database: postgres.database,
    schema: 'public',
    connection_limit: '20',
    writable_tables: '',
  });
  return postgres.urlFor('flotilla_footprint', 'footprint-password');
}

/** Its own database, the migration and runtime roles from the shipped scripts, and `--migrate` run once. */
async function prepareNotifications(postgres: PostgresInstance): Promise<string> {
  return (await prepareNotificationsDatabase(postgres, { database: 'notifications', connectionLimit: 40 })).runtimeUrl;
}

/** Plain ASCII lines: nothing in the answer looks like the markers the per-call success check looks for. */
function pageOfText(bytes: number): string {
  const line = 'The quick brown fox jumps over the lazy dog, again and again.\n';
  return line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
}

interface WebhookReceiver {
  readonly url: string;
  readonly secret: string;
  close(): Promise<void>;
}

/** Accepts every delivery with 204, so the one notification sent is delivered and stays delivered. */
async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    secret: `whsec_${randomBytes(24).toString('base64')}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
