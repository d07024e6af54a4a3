import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { callTool, connectMcpClient, resultOf } from '@flotilla/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isFinal,
  MAIN,
  MIGRATION_ROLE,
  newWebhookSecret,
  RUNTIME_ROLE,
  startTestNotifications,
  type TestNotifications,
  waitForNotification,
} from './testing/harness.js';
import { type HttpReceiver, startHttpReceiver } from './testing/receivers.js';

const run = promisify(execFile);
let env: TestNotifications;
let receiver: HttpReceiver;
let runtime: pg.Pool;

beforeAll(async () => {
  receiver = await startHttpReceiver();
  env = await startTestNotifications({
    channels: [{ name: 'hooks', kind: 'webhook', url: receiver.url, secret: newWebhookSecret() }],
  });
  // Other applications' data in the same database: the database server's tables, granted to its own
  // role, and a table in `public` whose owner granted it to PUBLIC.
  await env.admin(`
    CREATE ROLE flotilla_database LOGIN;
    CREATE SCHEMA shop;
    CREATE TABLE shop.customers (id int, email text);
    GRANT USAGE ON SCHEMA shop TO flotilla_database;
    GRANT SELECT ON shop.customers TO flotilla_database;
    CREATE TABLE public.secrets (token text);
    INSERT INTO public.secrets VALUES ('top-secret');
    GRANT SELECT ON public.secrets TO PUBLIC;
  `);
  runtime = new pg.Pool({ connectionString: env.runtimeUrl, max: 1 });
});

afterAll(async () => {
  await runtime?.end();
  await env?.stop();
  await receiver?.close();
});

/** The SQLSTATE a statement fails with when run as the runtime role; undefined when it succeeds. */
async function asRuntime(sql: string): Promise<string | undefined> {
  return runtime.query(sql).then(
    () => undefined,
    (error: { code?: string }) => error.code ?? 'unknown',
  );
}

describe('the runtime role', () => {
  it('owns nothing and holds no dangerous attribute', async () => {
    const { rows } = await env.admin(
      `SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolbypassrls, r.rolreplication,
              (SELECT count(*)::int FROM pg_class WHERE relowner = r.oid) AS relations,
              (SELECT count(*)::int FROM pg_namespace WHERE nspowner = r.oid) AS schemas,
              (SELECT count(*)::int FROM pg_proc WHERE proowner = r.oid) AS functions
         FROM pg_roles r WHERE r.rolname = $1`,
      [RUNTIME_ROLE],
    );
    expect(rows[0]).toEqual({
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolbypassrls: false,
      rolreplication: false,
      relations: 0,
      schemas: 0,
      functions: 0,
    });
  });

  it('may use its own tables, and the queue’s', async () => {
    expect(await asRuntime('SELECT count(*) FROM notifications.notification')).toBeUndefined();
    expect(await asRuntime('SELECT count(*) FROM notifications_queue.job')).toBeUndefined();
  });

  it('may not change any schema, not even its own', async () => {
    const statements = [
      'CREATE TABLE notifications.extra (id int)',
      'CREATE TABLE notifications_queue.extra (id int)',
      'CREATE TABLE public.extra (id int)',
      'CREATE TEMPORARY TABLE scratch (id int)',
      'ALTER TABLE notifications.notification ADD COLUMN extra int',
      'DROP TABLE notifications_queue.job',
      'TRUNCATE notifications.notification',
      'CREATE SCHEMA mine',
    ];
    for (const sql of statements) expect([sql, await asRuntime(sql)]).toEqual([sql, '42501']);
  });

  it('cannot read other schemas, even what their owners granted to PUBLIC', async () => {
    expect(await asRuntime('SELECT * FROM public.secrets')).toBe('42501');
    expect(await asRuntime('SELECT * FROM shop.customers')).toBe('42501');
  });

  it('cannot run the migrations: --migrate as the runtime role fails', async () => {
    const failure = await run(process.execPath, [MAIN, '--migrate'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_MIGRATION_URL: env.runtimeUrl },
    }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('migration failed');
  });
});

describe('--migrate', () => {
  it('runs as the migration role, again without harm, and leaves the schemas owned by it', async () => {
    for (let round = 0; round < 2; round++) {
      const { stderr } = await run(process.execPath, [MAIN, '--migrate'], {
        env: { PATH: process.env.PATH ?? '', DATABASE_MIGRATION_URL: env.migrationUrl },
      });
      expect(stderr).toContain('migrations applied');
    }
    const { rows } = await env.admin(
      `SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace
        WHERE nspname IN ('notifications', 'notifications_queue') ORDER BY nspname`,
    );
    expect(rows).toEqual([
      { nspname: 'notifications', owner: MIGRATION_ROLE },
      { nspname: 'notifications_queue', owner: MIGRATION_ROLE },
    ]);
  });

  it('says what is missing without DATABASE_MIGRATION_URL', async () => {
    const failure = (await run(process.execPath, [MAIN, '--migrate'], { env: { PATH: process.env.PATH ?? '' } }).catch(
      (error: unknown) => error,
    )) as { code?: number; stderr?: string };
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain('DATABASE_MIGRATION_URL');
  });
});

describe('roles', () => {
  it('splits API and workers: --role=worker delivers with no MCP port, while an api process only enqueues', async () => {
    const api = await env.startServer({}, 'api');
    const apiReady = (await (await fetch(`${api.adminUrl}/readyz`)).json()) as { dependencies: object };
    expect(Object.keys(apiReady.dependencies)).toEqual(['postgres']);

    const client = await connectMcpClient(api.mcpUrl);
    try {
      const { id } = resultOf<{ id: string }>(
        await callTool(client, 'send_notification', {
          channel: 'hooks',
          body: 'for the worker',
          idempotencyKey: 'roles-1',
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(resultOf(await callTool(client, 'get_notification', { id }))).toMatchObject({ status: 'queued' });

      const worker = await env.spawnServer({}, ['--role=worker']);
      const workerReady = await (await fetch(`${worker.adminUrl}/readyz`)).json();
      expect(workerReady).toMatchObject({
        status: 'ready',
        dependencies: { postgres: { status: 'up' }, workers: { status: 'up' } },
      });
      expect((await fetch(`${worker.adminUrl}/livez`)).status).toBe(200);
      expect(await (await fetch(`${worker.adminUrl}/metrics`)).text()).toContain('flotilla_notifications_queue_depth');
      await expect(fetch(worker.mcpUrl, { method: 'POST', body: '{}' })).rejects.toThrow();

      expect(await waitForNotification(client, id, isFinal)).toMatchObject({ status: 'delivered', attempts: 1 });
      await worker.stop();
      expect(await worker.exited).toEqual({ code: 0, signal: null });
    } finally {
      await client.close();
    }
  });

  it('refuses an unknown role with one message', async () => {
    const failure = (await run(process.execPath, [MAIN, '--role=everything'], {
      env: { PATH: process.env.PATH ?? '' },
    }).catch((error: unknown) => error)) as { code?: number; stderr?: string };
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain('--role must be one of api, worker, all');
  });
});

describe('start-up', () => {
  it('stops with one clear message when the channels file is invalid', async () => {
    const secret = newWebhookSecret();
    const bad = join(dirname(env.channelsFile), 'bad.json');
    await writeFile(bad, JSON.stringify({ channels: [{ name: 'x', kind: 'webhook', secret }] }));
    const failure = await env.spawnServer({ NOTIFY_CHANNELS_FILE: bad }).then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failure).toContain(`flotilla-notifications: invalid NOTIFY_CHANNELS_FILE ${bad}`);
    expect(failure).toContain('channels[0].url');
    expect(failure).not.toContain(secret);
  });
});
