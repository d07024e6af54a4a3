import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  mintApiKey,
  type PostgresInstance,
  type RedisInstance,
  runSqlFile,
  type ServiceProcess,
  spawnService,
  startPostgres,
  startRedis,
  writeApiKeysFile,
} from '@flotilla/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartsDir, ensureTools, type K8sObject, repoRoot, template } from './tools.js';

const run = promisify(execFile);
const RUNTIME_PASSWORD = 'runtime-pw-for-tests';
const REDIS_PASSWORDS = { database: 'redis-db-pw', files: 'redis-files-pw', notifications: 'redis-notify-pw' };

let postgres: PostgresInstance;
let redis: RedisInstance;
const clients: Redis[] = [];

/**
 * Runs the psql lines of the database chart's migration Job as the Job would, through the test kit's
 * psql-compatible runner: the same scripts (charts/flotilla-database/files links to them) with the
 * same -v variables, so what is tested is what the hook runs.
 */
async function runMigrationJob(objects: K8sObject[], adminUrl: string): Promise<void> {
  const job = objects.find((object) => object.kind === 'Job') as K8sObject;
  const script = job.spec.template.spec.containers[0].args[0] as string;
  for (const line of script.split('\n').filter((entry) => entry.startsWith('psql '))) {
    const variables: Record<string, string> = {};
    for (const [, name, value] of line.matchAll(/-v (\w+)=("[^"]*"|\S*)/g)) {
      if (name === 'ON_ERROR_STOP') continue;
      variables[name as string] = (value as string) === '"$RUNTIME_PASSWORD"' ? RUNTIME_PASSWORD : (value as string);
    }
    const file = /-f \/sql\/(\S+)/.exec(line)?.[1] as string;
    await runSqlFile(adminUrl, join(chartsDir, 'flotilla-database/files', file), variables);
  }
}

async function asRole(role: string, work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: postgres.urlFor(role, RUNTIME_PASSWORD) });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

function redisAs(user: string, password: string): Redis {
  const client = new Redis({
    host: redis.host,
    port: redis.port,
    username: user,
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  await ensureTools();
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  await runSqlFile(postgres.url, join(repoRoot, 'services/database/sql/demo-schema.sql'));
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all([postgres?.destroy(), redis?.destroy()]);
});

describe('the database runtime role, as the chart migration Job creates it', () => {
  beforeAll(async () => {
    // A writer (orders writable) and a reader (chart defaults: no writable tables).
    const writer = await template('flotilla-database', {
      set: [
        'migration.role=flotilla_database',
        `migration.database=${postgres.database}`,
        'config.DB_WRITABLE_TABLES={orders}',
      ],
    });
    const reader = await template('flotilla-database', {
      set: ['migration.role=flotilla_database_ro', `migration.database=${postgres.database}`],
    });
    await runMigrationJob(writer, postgres.url);
    await runMigrationJob(reader, postgres.url);
  }, 60_000);

  it('reads, but cannot CREATE anything, not even a temporary table', async () => {
    for (const role of ['flotilla_database', 'flotilla_database_ro']) {
      await asRole(role, async (client) => {
        expect((await client.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(200);
        await client.query('BEGIN READ WRITE');
        await expect(client.query('CREATE TABLE sneaky (id int)')).rejects.toThrow(/permission denied/);
        await client.query('ROLLBACK');
        await client.query('BEGIN READ WRITE');
        await expect(client.query('CREATE TEMP TABLE sneaky (id int)')).rejects.toThrow(/permission denied/);
        await client.query('ROLLBACK');
        await expect(client.query('CREATE SCHEMA sneaky')).rejects.toThrow(/permission denied|read-only/);
      });
    }
  });

  it('writes only the tables DB_WRITABLE_TABLES lists, and only when they are listed', async () => {
    await asRole('flotilla_database', async (client) => {
      // Sessions default to read-only: a write needs an explicit read-write transaction, as the server opens one.
      await expect(client.query('DELETE FROM order_items WHERE false')).rejects.toThrow(/read-only transaction/);
      await client.query('BEGIN READ WRITE');
      await client.query("UPDATE orders SET status = 'paid' WHERE id = 1");
      await client.query('ROLLBACK');
      await client.query('BEGIN READ WRITE');
      await expect(client.query("UPDATE customers SET name = 'x' WHERE id = 1")).rejects.toThrow(/permission denied/);
      await client.query('ROLLBACK');
      await client.query('BEGIN READ WRITE');
      await expect(client.query('TRUNCATE orders CASCADE')).rejects.toThrow(/permission denied/);
      await client.query('ROLLBACK');
    });
    await asRole('flotilla_database_ro', async (client) => {
      await client.query('BEGIN READ WRITE');
      await expect(client.query("UPDATE orders SET status = 'paid' WHERE id = 1")).rejects.toThrow(/permission denied/);
      await client.query('ROLLBACK');
    });
  });

  it('cannot take another role or bypass row-level security', async () => {
    await asRole('flotilla_database', async (client) => {
      const { rows } = await client.query(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = 'flotilla_database'",
      );
      expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false });
      await expect(client.query(`SET ROLE ${postgres.adminUser}`)).rejects.toThrow(/permission denied/);
    });
  });
});

describe('the files server', () => {
  it('has no Postgres credential anywhere in its chart', async () => {
    const text = JSON.stringify(await template('flotilla-files', { set: ['metrics.prometheusRule.enabled=true'] }));
    expect(text).not.toMatch(/DATABASE_URL|DATABASE_MIGRATION_URL|PGPASSWORD|5432/);
  });
});

describe('the notifications runtime role, after its chart migration Job, beside the database server', () => {
  const sqlFile = (name: string) => join(repoRoot, 'services/notifications/sql', name);
  const notifyRole = 'flotilla_notifications';

  beforeAll(async () => {
    // Once, as an operator: the two roles (docs/operations.md); then every release: the chart's hook Job.
    await runSqlFile(postgres.url, sqlFile('migration-role.sql'), {
      role: 'flotilla_notifications_migrator',
      password: RUNTIME_PASSWORD,
      database: postgres.database,
    });
    await runSqlFile(postgres.url, sqlFile('runtime-role.sql'), {
      role: notifyRole,
      password: RUNTIME_PASSWORD,
      database: postgres.database,
      migration_role: 'flotilla_notifications_migrator',
      connection_limit: '10',
    });
    const objects = await template('flotilla-notifications');
    const job = objects.find((object) => object.kind === 'Job') as K8sObject;
    const container = job.spec.template.spec.containers[0];
    const envNames = container.env.map((entry: { name: string }) => entry.name);
    // The hook holds the migration credential and nothing of the runtime's.
    expect(envNames).toContain('DATABASE_MIGRATION_URL');
    expect(envNames).not.toContain('DATABASE_URL');
    await run(process.execPath, [join(repoRoot, 'services/notifications/dist/main.js'), ...container.args], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_MIGRATION_URL: postgres.urlFor('flotilla_notifications_migrator', RUNTIME_PASSWORD),
        LOG_LEVEL: 'warn',
      },
    });
  }, 60_000);

  it('uses its own tables, but cannot read the database server’s tables or change any schema', async () => {
    await asRole(notifyRole, async (client) => {
      expect((await client.query('SELECT count(*)::int AS n FROM notifications.notification')).rows[0].n).toBe(0);
      await expect(client.query('SELECT * FROM public.customers')).rejects.toThrow(/permission denied/);
      await expect(client.query('SELECT * FROM public.orders')).rejects.toThrow(/permission denied/);
      await expect(client.query('CREATE TABLE notifications.extra (id int)')).rejects.toThrow(/permission denied/);
      await expect(client.query('DROP TABLE notifications.notification')).rejects.toThrow(
        /must be owner|permission denied/,
      );
    });
  });

  it('is invisible to the database server’s role in turn', async () => {
    await asRole('flotilla_database', async (client) => {
      await expect(client.query('SELECT * FROM notifications.notification')).rejects.toThrow(/permission denied/);
      expect((await client.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(200);
    });
  });
});

describe('Redis ACL users from k8s/redis/users.acl', () => {
  beforeAll(async () => {
    const { stdout } = await run('sh', [join(repoRoot, 'k8s/redis/with-passwords.sh')], {
      env: {
        PATH: process.env.PATH ?? '',
        FLOTILLA_REDIS_PASSWORD_DATABASE: REDIS_PASSWORDS.database,
        FLOTILLA_REDIS_PASSWORD_FILES: REDIS_PASSWORDS.files,
        FLOTILLA_REDIS_PASSWORD_NOTIFICATIONS: REDIS_PASSWORDS.notifications,
      },
    });
    expect(stdout).not.toContain(REDIS_PASSWORDS.database);
    const admin = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
    clients.push(admin);
    // Each `user` line of an ACL file is exactly the arguments of ACL SETUSER. The `default` line is
    // left out: it switches off the user the test kit itself manages this throwaway server with.
    for (const line of stdout.split('\n').filter((entry) => entry.startsWith('user flotilla-'))) {
      const [, name, ...rules] = line.split(/\s+/);
      await admin.call('ACL', 'SETUSER', name as string, ...rules);
    }
    expect(readFileSync(join(repoRoot, 'k8s/redis/users.acl'), 'utf8')).toMatch(/^user default off /m);
  });

  it.each(Object.entries(REDIS_PASSWORDS))(
    'flotilla-%s uses its own prefix and nothing else',
    async (service, password) => {
      const client = redisAs(`flotilla-${service}`, password);
      await client.connect();
      const own = `flotilla:${service}:rl:principal:t/s`;
      await client.set(own, '1', 'EX', 60);
      expect(await client.get(own)).toBe('1');
      expect(await client.eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, own, '2')).toBe(3);
      const other = service === 'files' ? 'flotilla:database:rl:x' : 'flotilla:files:rl:x';
      await expect(client.get(other)).rejects.toThrow(/NOPERM/);
      await expect(client.set('elsewhere', '1')).rejects.toThrow(/NOPERM/);
      await expect(client.eval("return redis.call('get', KEYS[1])", 1, other)).rejects.toThrow(/NOPERM/);
      await expect(client.flushall()).rejects.toThrow(/NOPERM/);
      await expect(client.config('GET', 'dir')).rejects.toThrow(/NOPERM/);
      await expect(client.keys('*')).rejects.toThrow(/NOPERM/);
      await expect(client.subscribe('flotilla')).rejects.toThrow(/NOPERM/);
      const otherChannel = service === 'files' ? 'flotilla:database:cancel' : 'flotilla:files:cancel';
      await expect(client.publish(otherChannel, '{}')).rejects.toThrow(/NOPERM/);
      expect(await client.publish(`flotilla:${service}:cancel`, '{}')).toBe(0);
    },
  );

  it('nobody logs in with a wrong password, nor as a user the file leaves without one', async () => {
    const client = new Redis({ host: redis.host, port: redis.port });
    clients.push(client);
    await expect(client.call('AUTH', 'flotilla-database', 'wrong')).rejects.toThrow(/WRONGPASS/);
    await client.call('ACL', 'SETUSER', 'flotilla-nopass', 'on', 'resetpass', '~flotilla:x:*', '+get');
    await expect(client.call('AUTH', 'flotilla-nopass', '')).rejects.toThrow(/WRONGPASS/);
  });

  describe('the database server on its runtime role and Redis user', () => {
    let server: ServiceProcess;
    let apiKey: string;

    beforeAll(async () => {
      const minted = mintApiKey({ subject: 'helm-test', tenant: 'acme', scopes: ['db:read'] });
      apiKey = minted.key;
      server = await spawnService(fileURLToPath(new URL('../../services/database/dist/main.js', import.meta.url)), {
        AUTH_MODE: 'api-key',
        AUTH_API_KEYS_FILE: await writeApiKeysFile([minted.entry]),
        DATABASE_URL: postgres.urlFor('flotilla_database', RUNTIME_PASSWORD),
        DB_WRITABLE_TABLES: 'orders',
        REDIS_URL: `redis://flotilla-database:${REDIS_PASSWORDS.database}@${redis.host}:${redis.port}`,
        // Closed: any command the ACL refused would make requests fail instead of quietly falling back.
        RATE_LIMIT_FAIL_MODE: 'closed',
      });
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
    });

    it('passes the chart helm test pod script: /readyz, then tools/list with the test API key', async () => {
      const objects = await template('flotilla-database');
      const pod = objects.find((object) => object.kind === 'Pod') as K8sObject;
      const container = pod.spec.containers[0];
      expect(container.image).toBe(
        objects.find((object) => object.kind === 'Deployment')?.spec.template.spec.containers[0].image,
      );
      const { stdout } = await run(process.execPath, container.args, {
        env: { PATH: process.env.PATH ?? '', ADMIN_URL: server.adminUrl, MCP_URL: server.mcpUrl, API_KEY: apiKey },
      });
      expect(stdout).toContain('readyz:');
      expect(stdout).toMatch(/tools: .*list_tables/);
      const anonymous = await run(process.execPath, container.args, {
        env: { PATH: process.env.PATH ?? '', ADMIN_URL: server.adminUrl, MCP_URL: server.mcpUrl },
      });
      expect(anonymous.stdout).toContain('401');
    });

    it('keeps its rate limits and schema cache under flotilla:database:* without a single refused command', async () => {
      const headers = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        authorization: `Bearer ${apiKey}`,
      };
      const call = (id: number) =>
        fetch(server.mcpUrl, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            jsonrpc: '2.0',
            id,
            method: 'tools/call',
            params: { name: 'list_tables', arguments: {} },
          }),
        });
      const admin = clients[0] as Redis;
      // The suites above provoked refusals on purpose; only this server's own commands count here.
      await admin.call('ACL', 'LOG', 'RESET');
      for (const id of [1, 2]) {
        const response = await call(id);
        expect(response.status).toBe(200);
        expect(await response.text()).toContain('orders');
      }
      // A 2025-era cancel is published to the other replicas (call-cancellation.ts), which subscribe to it.
      const cancel = await fetch(server.mcpUrl, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 3 } }),
      });
      expect(cancel.status).toBe(202);
      // Redis records every command, key and channel an ACL refused, whether or not the server logged it.
      await expect.poll(async () => admin.call('ACL', 'LOG')).toEqual([]);
      const subscribers = (await admin.call('PUBSUB', 'NUMSUB', 'flotilla:database:cancel')) as [string, number];
      expect(subscribers[1]).toBe(1);
      const keys = await admin.keys('*');
      expect(keys.some((key) => key.startsWith('flotilla:database:rl:'))).toBe(true);
      expect(keys.some((key) => key.startsWith('flotilla:database:schema:'))).toBe(true);
      expect(keys.filter((key) => !key.startsWith('flotilla:'))).toEqual([]);
      expect(server.stderr()).not.toMatch(/NOPERM/);
    });
  });
});
