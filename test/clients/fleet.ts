import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  mintApiKey,
  type PostgresInstance,
  prepareNotificationsDatabase,
  queryOnce,
  type RedisInstance,
  runSqlFile,
  type ServiceProcess,
  spawnService,
  startPostgres,
  startRedis,
  writeApiKeysFile,
} from '@flotilla/testkit';
import pg from 'pg';

// The three servers as their built processes (dist/main.js), on one real PostgreSQL and Redis, bootstrapped with
// the shipped role scripts the way an operator would. Shared by the client-matrix and error-shape suites.

export type ServerName = 'database' | 'files' | 'notifications';
export const SERVER_NAMES: readonly ServerName[] = ['database', 'files', 'notifications'];

const repo = (relative: string) => fileURLToPath(new URL(`../../${relative}`, import.meta.url));
export const mainOf = (server: ServerName) => repo(`services/${server}/dist/main.js`);

export const TENANT = 'acme';
/** Tool limits small enough for a test to run into: one cheap read tool per server. */
export const LIMITED_TOOL: Record<ServerName, { tool: string; args: Record<string, unknown> }> = {
  database: { tool: 'list_schemas', args: {} },
  files: { tool: 'stat', args: { path: 'README.md' } },
  notifications: { tool: 'get_notification', args: { id: '00000000-0000-0000-0000-000000000000' } },
};
const LIMIT_PER_MINUTE = 3;
/** Short enough that a test waits little for a TIMEOUT, long enough for every ordinary call on a busy machine. */
export const TOOL_TIMEOUT_MS = 1500;
/** Linear (RE2) but expensive on every line of the big tree: many partial matches, never a whole one. */
export const GREP_TOO_SLOW = '(?i)(lorem|ipsum|dolor)\\s+\\w+\\s+\\w+\\s+zz';

const ALL_SCOPES = [
  'db:read',
  'db:write',
  'files:read',
  'files:write',
  'files:delete',
  'notify:read',
  'notify:send',
  'notify:broadcast',
];

export interface Fleet {
  readonly postgres: PostgresInstance;
  readonly redis: RedisInstance;
  /** A bearer key with every scope, tenant `acme`. */
  readonly apiKey: string;
  /** Another principal's key (subject `outsider`, same tenant and scopes): what must not reach `apiKey`'s calls. */
  readonly outsiderApiKey: string;
  readonly filesRoot: string;
  /** The environment a server runs with, without transport settings: what its stdio process gets too. */
  envOf(server: ServerName): Record<string, string>;
  /** Starts one more HTTP replica of a server (API-key auth, the shared Redis), Node given `nodeArgs`. */
  spawnHttp(server: ServerName, extra?: Record<string, string>, nodeArgs?: readonly string[]): Promise<ServiceProcess>;
  /** A superuser connection to a server's database, for what a test does behind the server's back. */
  admin(server: 'database' | 'notifications'): Promise<pg.Client>;
  /** One statement as that superuser, on a connection of its own. */
  adminQuery(server: 'database' | 'notifications', sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  stop(): Promise<void>;
}

export async function startFleet(): Promise<Fleet> {
  const [postgres, redis] = await Promise.all([startPostgres({ database: 'shop' }), startRedis()]);
  const processes: ServiceProcess[] = [];
  const workDir = await mkdtemp(join(tmpdir(), 'flotilla-clients-'));
  const receiver = await startReceiver();
  try {
    const databaseUrl = await bootstrapDatabase(postgres);
    const notifyUrl = await bootstrapNotifications(postgres);
    const filesRoot = join(workDir, 'workspace');
    await seedWorkspace(filesRoot);
    const channelsFile = join(workDir, 'channels.json');
    await writeFile(channelsFile, JSON.stringify({ channels: channelsFor(receiver) }), { mode: 0o600 });
    const developer = mintApiKey({ subject: 'matrix', tenant: TENANT, scopes: ALL_SCOPES });
    const outsider = mintApiKey({ subject: 'outsider', tenant: TENANT, scopes: ALL_SCOPES });
    const keysFile = await writeApiKeysFile([developer.entry, outsider.entry]);

    const common = {
      LOG_LEVEL: 'silent',
      SHUTDOWN_DELAY_MS: '0',
      TOOL_TIMEOUT_MS: String(TOOL_TIMEOUT_MS),
      AUTH_ANONYMOUS_TENANT: TENANT,
    };
    const own: Record<ServerName, Record<string, string>> = {
      database: { DATABASE_URL: databaseUrl, DB_WRITABLE_TABLES: 'orders,order_items' },
      // A grep over the big tree takes far longer than the tool timeout: the files server's TIMEOUT case.
      files: { FILES_ROOT: filesRoot, FILES_GREP_TIME_BUDGET_MS: '120000' },
      notifications: { DATABASE_URL: notifyUrl, NOTIFY_CHANNELS_FILE: channelsFile },
    };
    const envOf = (server: ServerName) => ({
      ...common,
      TOOL_RATE_LIMITS: `${LIMITED_TOOL[server].tool}=${LIMIT_PER_MINUTE}`,
      ...own[server],
    });
    return {
      postgres,
      redis,
      apiKey: developer.key,
      outsiderApiKey: outsider.key,
      filesRoot,
      envOf,
      async spawnHttp(server, extra = {}, nodeArgs = []) {
        const env = { ...envOf(server), AUTH_MODE: 'api-key', AUTH_API_KEYS_FILE: keysFile, REDIS_URL: redis.url };
        const child = await spawnService(mainOf(server), { ...env, ...extra }, undefined, [], nodeArgs);
        processes.push(child);
        return child;
      },
      async admin(server) {
        const client = new pg.Client({
          connectionString: postgres.urlFor(postgres.adminUser, postgres.adminPassword, databaseOf[server]),
        });
        await client.connect();
        return client;
      },
      adminQuery(server, sql, params) {
        return queryOnce(postgres.urlFor(postgres.adminUser, postgres.adminPassword, databaseOf[server]), sql, params);
      },
      async stop() {
        await Promise.all(processes.map((child) => child.stop(5000)));
        await Promise.all([postgres.destroy(), redis.destroy(), receiver.close()]);
        await rm(workDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all([postgres.destroy(), redis.destroy(), receiver.close()]);
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }
}

const databaseOf = { database: 'shop', notifications: 'notifications' } as const;

async function bootstrapDatabase(postgres: PostgresInstance): Promise<string> {
  await runSqlFile(postgres.url, repo('services/database/sql/demo-schema.sql'));
  await runSqlFile(postgres.url, repo('services/database/sql/runtime-role.sql'), {
    role: 'flotilla_database',
    password: 'database-password',
    database: postgres.database,
    schema: 'public',
    connection_limit: '40',
    writable_tables: 'orders,order_items',
  });
  return postgres.urlFor('flotilla_database', 'database-password');
}

async function bootstrapNotifications(postgres: PostgresInstance): Promise<string> {
  return (await prepareNotificationsDatabase(postgres, { database: 'notifications', connectionLimit: 60 })).runtimeUrl;
}

/**
 * A README and notes to read, a denied .git, and 40 MiB of text in which GREP_TOO_SLOW costs about 16 µs a line on
 * this machine: some 8 s, several times the tool timeout.
 */
async function seedWorkspace(root: string): Promise<void> {
  const tenant = join(root, TENANT);
  await mkdir(join(tenant, 'notes'), { recursive: true });
  await mkdir(join(tenant, '.git'), { recursive: true });
  await writeFile(join(tenant, 'README.md'), '# Matrix workspace\n\nRead me.\n');
  await writeFile(join(tenant, 'notes', 'todo.md'), '- [ ] pass the client matrix\n');
  await writeFile(join(tenant, '.git', 'config'), '[core]\n\tbare = false\n');
  const big = join(tenant, 'big');
  await mkdir(big);
  const line = `${'lorem ipsum dolor sit amet '.repeat(3)}\n`;
  const chunk = line.repeat(Math.ceil((1024 * 1024) / line.length));
  await Promise.all(Array.from({ length: 40 }, (_, i) => writeFile(join(big, `log-${i}.txt`), chunk)));
}

interface Receiver {
  url: string;
  secret: string;
  close(): Promise<void>;
}

/** Where webhook deliveries go: answers 204 to everything (delivery itself is the notifications suite's subject). */
async function startReceiver(): Promise<Receiver> {
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    secret: `whsec_${randomBytes(24).toString('base64')}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function channelsFor(receiver: Receiver): unknown[] {
  return [
    { name: 'ops-webhook', kind: 'webhook', url: receiver.url, secret: receiver.secret, description: 'Operations.' },
    {
      name: 'team-email',
      kind: 'email',
      // Never reached: the matrix only sends what the allow-list refuses before any connection is made.
      smtpUrl: 'smtp://127.0.0.1:1',
      from: 'flotilla@example.com',
      allowedDomains: ['example.com'],
      description: 'Mail to the team.',
    },
  ];
}
