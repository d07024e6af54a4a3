import { randomUUID } from 'node:crypto';
import { BatchSweep, type RunningService, SWEEP_BATCH_SIZE, startService } from '@flotilla/runtime';
import { createLogger } from '@flotilla/telemetry';
import {
  callTool,
  connectMcpClient,
  LOCAL_TEST_SERVER_ENV,
  mintApiKey,
  type PostgresInstance,
  queryOnce,
  resultOf,
  runSqlFile,
  startPostgres,
  writeApiKeysFile,
} from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { databaseEnvironment } from '../config.js';
import { createIdempotencySweepMetrics } from '../metrics.js';
import { databaseService, setupDatabase } from '../server.js';
import { RUNTIME_PASSWORD, RUNTIME_ROLE, sqlFile } from '../testing/harness.js';
import { deleteExpiredKeys } from './idempotency-sweep.js';

type WriteResult = { rowCount: number; rows: Record<string, unknown>[]; replayed: boolean };

/**
 * Bootstrapped the way a managed Postgres forces it: runtime-role.sql runs as the database's owner,
 * an ordinary role, not as a superuser. A superuser owner would bypass row-level security and hide
 * the case that matters, where the owner is held to the per-tenant policy like everyone else.
 */
const OWNER = 'app_owner';
const OWNER_PASSWORD = 'owner-password';
const acme = mintApiKey({ subject: 'writer', tenant: 'acme', scopes: ['db:read', 'db:write'] });
const logger = createLogger({ service: 'flotilla-database', version: 'test', level: 'silent' });

let postgres: PostgresInstance;
let runtimeUrl: string;
let ownerUrl: string;
let keysFile: string;
const pools: pg.Pool[] = [];
const services: RunningService[] = [];

function admin(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  return queryOnce(postgres.url, sql, params);
}

function runtimePool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: runtimeUrl, max: 2 });
  pools.push(pool);
  return pool;
}

function startServer(env: Record<string, string> = {}): Promise<RunningService> {
  return startService({
    definition: databaseService,
    environment: databaseEnvironment,
    setup: setupDatabase,
    transport: 'http',
    env: {
      ...LOCAL_TEST_SERVER_ENV,
      AUTH_MODE: 'api-key',
      AUTH_API_KEYS_FILE: keysFile,
      DATABASE_URL: runtimeUrl,
      DB_WRITABLE_TABLES: 'orders',
      ...env,
    },
  }).then((service) => {
    services.push(service);
    return service;
  });
}

function applyRuntimeRole(url: string): Promise<void> {
  return runSqlFile(url, sqlFile('runtime-role.sql'), {
    role: RUNTIME_ROLE,
    password: RUNTIME_PASSWORD,
    database: postgres.database,
    schema: 'public',
    connection_limit: '20',
    writable_tables: 'orders',
  });
}

/** A sweep as a replica runs it, as the runtime role, with metrics of its own. */
function newSweep(options: { batchSize?: number; pool?: pg.Pool; record?: number[] } = {}) {
  const pool = options.pool ?? runtimePool();
  const metrics = createIdempotencySweepMetrics(new Registry());
  const sweep = new BatchSweep({
    name: 'idempotency sweep',
    deleteBatch: async (limit) => {
      const deleted = await deleteExpiredKeys(pool, limit, 10_000);
      options.record?.push(deleted);
      return deleted;
    },
    metrics,
    logger,
    intervalMs: 3_600_000,
    pauseMs: 0,
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
  });
  return { sweep, swept: async () => (await metrics.deleted.get()).values[0]?.value ?? 0 };
}

/** `count` records of `tenant` written `ageMinutes` ago. */
async function seed(tenant: string, count: number, ageMinutes: number): Promise<void> {
  await admin(
    `INSERT INTO flotilla.idempotency_keys (tenant, key, fingerprint, result, created_at)
     SELECT $1, gen_random_uuid()::text, 'fingerprint', '{}'::jsonb, now() - make_interval(mins => $3)
       FROM generate_series(1, $2)`,
    [tenant, count, ageMinutes],
  );
}

async function remaining(): Promise<{ tenant: string; expired: boolean; n: number }[]> {
  const { rows } = await admin(
    `SELECT tenant, created_at < now() - interval '24 hours' AS expired, count(*)::int AS n
       FROM flotilla.idempotency_keys GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  return rows;
}

beforeAll(async () => {
  postgres = await startPostgres();
  try {
    await admin(`CREATE ROLE ${OWNER} LOGIN CREATEROLE PASSWORD '${OWNER_PASSWORD}'`);
    await admin(`ALTER DATABASE ${pg.escapeIdentifier(postgres.database)} OWNER TO ${OWNER}`);
    await runSqlFile(postgres.urlFor(OWNER, OWNER_PASSWORD), sqlFile('demo-schema.sql'));
    await applyRuntimeRole(postgres.urlFor(OWNER, OWNER_PASSWORD));
  } catch (error) {
    await postgres.destroy();
    throw error;
  }
  runtimeUrl = postgres.urlFor(RUNTIME_ROLE, RUNTIME_PASSWORD);
  ownerUrl = postgres.urlFor(OWNER, OWNER_PASSWORD);
  keysFile = await writeApiKeysFile([acme.entry]);
});

afterAll(async () => {
  await Promise.all(services.map((service) => service.shutdown()));
  await Promise.all(pools.map((pool) => pool.end()));
  await postgres?.destroy();
});

beforeEach(async () => {
  await admin('DELETE FROM flotilla.idempotency_keys');
});

describe('the idempotency sweep', () => {
  it('deletes the expired records of every tenant and keeps every unexpired one', async () => {
    await seed('acme', 3, 25 * 60);
    await seed('globex', 4, 30 * 24 * 60);
    await seed('acme', 2, 60);
    // A minute short of the window: still a promise to the caller that a retry replays.
    await seed('globex', 2, 24 * 60 - 1);
    const { sweep, swept } = newSweep();

    expect(await sweep.runOnce()).toBe(7);
    expect(await swept()).toBe(7);
    expect(await remaining()).toEqual([
      { tenant: 'acme', expired: false, n: 2 },
      { tenant: 'globex', expired: false, n: 2 },
    ]);
    expect(await sweep.runOnce()).toBe(0);
  });

  it('bounds every statement to one batch and goes on until the backlog is gone', async () => {
    await seed('acme', 700, 25 * 60);
    await seed('globex', 503, 25 * 60);
    await seed('globex', 5, 10);
    const statements: number[] = [];
    const { sweep, swept } = newSweep({ record: statements });

    expect(await sweep.runOnce()).toBe(1203);
    expect(statements).toEqual([SWEEP_BATCH_SIZE, SWEEP_BATCH_SIZE, 203]);
    expect(await swept()).toBe(1203);
    expect(await remaining()).toEqual([{ tenant: 'globex', expired: false, n: 5 }]);
  });

  it('lets replicas sweep at once: disjoint batches, each counted once, no failure', async () => {
    await seed('acme', 1500, 25 * 60);
    await seed('globex', 1500, 25 * 60);
    const replicas = [newSweep({ batchSize: 50 }), newSweep({ batchSize: 50 }), newSweep({ batchSize: 50 })];

    const totals = await Promise.all(replicas.map(({ sweep }) => sweep.runOnce()));
    const counted = await Promise.all(replicas.map(({ swept }) => swept()));
    expect(totals.reduce((sum, total) => sum + total, 0)).toBe(3000);
    expect(counted).toEqual(totals);
    expect(await remaining()).toEqual([]);
  });

  it('is the runtime role’s only way to other tenants’ records, and it never reaches an unexpired one', async () => {
    await seed('acme', 1, 25 * 60);
    await seed('globex', 1, 25 * 60);
    await seed('globex', 1, 60);
    const client = await runtimePool().connect();
    try {
      await client.query(`BEGIN READ WRITE; SELECT set_config('flotilla.tenant', 'acme', true)`);
      const direct = await client.query('DELETE FROM flotilla.idempotency_keys WHERE true');
      expect(direct.rowCount).toBe(1);
      await client.query('ROLLBACK');
      // Asked for far more than exist, the function still takes only expired records.
      await client.query('BEGIN READ WRITE');
      const { rows } = await client.query('SELECT flotilla.delete_expired_idempotency_keys(1000000) AS n');
      await client.query('COMMIT');
      expect(rows[0].n).toBe(2);
    } finally {
      client.release();
    }
    expect(await remaining()).toEqual([{ tenant: 'globex', expired: false, n: 1 }]);
    const { rows } = await admin(
      `SELECT has_function_privilege('public', 'flotilla.delete_expired_idempotency_keys(integer)', 'EXECUTE') AS public,
              (SELECT count(*)::int FROM pg_policies WHERE tablename = 'idempotency_keys' AND cmd = 'DELETE') AS delete_policies`,
    );
    expect(rows[0]).toEqual({ public: false, delete_policies: 0 });
  });

  it('survives runtime-role.sql being applied again', async () => {
    const shape = () =>
      admin(
        `SELECT (SELECT array_agg(policyname::text ORDER BY policyname) FROM pg_policies
                  WHERE tablename = 'idempotency_keys') AS policies,
                (SELECT count(*)::int FROM pg_proc WHERE proname = 'delete_expired_idempotency_keys') AS functions`,
      ).then((result) => result.rows[0]);
    const before = await shape();
    expect(before).toEqual({ policies: ['own_tenant', 'owner_sweeps_expired'], functions: 1 });
    await applyRuntimeRole(ownerUrl);
    expect(await shape()).toEqual(before);
    await seed('globex', 2, 25 * 60);
    expect(await newSweep().sweep.runOnce()).toBe(2);
  });

  it('stops a run at its next batch when the server shuts down', async () => {
    await seed('acme', 300, 25 * 60);
    const statements: number[] = [];
    const { sweep } = newSweep({ batchSize: 10, record: statements });
    const run = sweep.runOnce();
    await sweep.stop();
    await run;
    expect(statements.length).toBeLessThan(30);
  });
});

describe('idempotencyKey past the 24-hour window', () => {
  let client: Client;

  beforeAll(async () => {
    const server = await startServer();
    client = await connectMcpClient(server.mcpUrl, { token: acme.key });
  });

  afterAll(async () => {
    await client?.close();
  });

  it('makes a retry change rows again, before or after the sweep removed the record', async () => {
    const key = randomUUID();
    const insert = () =>
      callTool(client, 'insert_rows', { table: 'orders', rows: [{ customer_id: 3 }], idempotencyKey: key });
    const first = resultOf<WriteResult>(await insert());
    expect(resultOf<WriteResult>(await insert())).toEqual({ ...first, replayed: true });

    // Expired but not yet swept: the record no longer counts.
    await admin(`UPDATE flotilla.idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1`, [key]);
    const second = resultOf<WriteResult>(await insert());
    expect(second.replayed).toBe(false);
    expect(second.rows[0]?.id).not.toEqual(first.rows[0]?.id);

    // Expired and swept: the same.
    await admin(`UPDATE flotilla.idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1`, [key]);
    expect(await newSweep().sweep.runOnce()).toBe(1);
    const third = resultOf<WriteResult>(await insert());
    expect(third.replayed).toBe(false);
    const orders = await admin('SELECT count(*)::int AS n FROM orders WHERE id = ANY($1::bigint[])', [
      [first, second, third].map((result) => Number(result.rows[0]?.id)),
    ]);
    expect(orders.rows[0].n).toBe(3);
  });
});

describe('a server with writes enabled', () => {
  it('sweeps on its own schedule and counts what it deleted on /metrics', async () => {
    await seed('acme', 40, 25 * 60);
    await seed('globex', 60, 25 * 60);
    await seed('globex', 3, 5);
    const server = await startServer({ DB_IDEMPOTENCY_SWEEP_MS: '200' });
    await expect
      .poll(async () => remaining(), { timeout: 10_000, interval: 100 })
      .toEqual([{ tenant: 'globex', expired: false, n: 3 }]);
    const metrics = await (await fetch(`${server.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^flotilla_db_idempotency_keys_swept_total\{[^}]*\} 100$/m);
    expect(metrics).toMatch(/^flotilla_db_idempotency_sweep_last_success_timestamp_seconds\{[^}]*\} [1-9]/m);
  });
});
