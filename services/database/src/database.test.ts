import { existsSync } from 'node:fs';
import { connectMcpClient } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool as call, errorOf, RUNTIME_ROLE, startTestDatabase, type TestDatabase } from './testing/harness.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await startTestDatabase({
    prepare: `
      CREATE TABLE secrets (id int, token text);
      INSERT INTO secrets VALUES (1, 'top-secret');
      CREATE SEQUENCE audit_seq;
      CREATE FUNCTION sneaky_write() RETURNS int LANGUAGE sql AS $$ INSERT INTO customers (email, name, country) VALUES ('x@y.z', 'x', 'DE') RETURNING 1 $$;
    `,
    serverEnv: { DB_STATEMENT_TIMEOUT_MS: '1000', DB_MAX_ROWS: '500', DB_MAX_RESULT_BYTES: '200000' },
  });
  // Layer 3: the role is granted the schema, and an operator withholds what it must never read.
  await db.admin(`REVOKE SELECT ON secrets FROM ${RUNTIME_ROLE}`);
});

afterAll(async () => {
  await db?.stop();
});

describe('schema discovery', () => {
  let client: Client;
  beforeAll(async () => {
    client = await connectMcpClient((await db.startServer()).mcpUrl);
  });
  afterAll(() => client.close());

  it('lists the allowed schemas', async () => {
    const outcome = await call(client, 'list_schemas', {});
    expect(outcome.structuredContent?.schemas).toEqual([{ name: 'public', comment: 'standard public schema' }]);
  });

  it('lists only the tables the role may read, with comments', async () => {
    const outcome = await call(client, 'list_tables', {});
    const tables = outcome.structuredContent?.tables as {
      name: string;
      comment: string | null;
      estimatedRows: number;
    }[];
    expect(tables.map((table) => table.name)).toEqual(['customers', 'order_items', 'orders', 'products']);
    expect(tables.find((table) => table.name === 'orders')).toMatchObject({
      comment: 'One checkout by one customer.',
      estimatedRows: 2000,
    });
  });

  it('describes columns, keys, constraints and indexes', async () => {
    const outcome = await call(client, 'describe_table', { table: 'orders' });
    expect(outcome.structuredContent).toMatchObject({
      schema: 'public',
      name: 'orders',
      kind: 'table',
      primaryKey: ['id'],
      foreignKeys: [{ columns: ['customer_id'], referencesTable: 'customers', referencesColumns: ['id'] }],
      checkConstraints: [{ definition: expect.stringContaining('status') }],
    });
    const columns = outcome.structuredContent?.columns as {
      name: string;
      type: string;
      nullable: boolean;
      default: string | null;
    }[];
    expect(columns.find((column) => column.name === 'status')).toEqual({
      name: 'status',
      type: 'text',
      nullable: false,
      default: "'placed'::text",
      comment: null,
    });
    const indexes = outcome.structuredContent?.indexes as { name: string }[];
    expect(indexes.map((index) => index.name)).toContain('orders_customer_id_idx');
  });

  it('refuses unknown tables, unreadable tables and schemas outside DB_ALLOWED_SCHEMAS', async () => {
    expect(errorOf(await call(client, 'describe_table', { table: 'nope' })).code).toBe('NOT_FOUND');
    expect(errorOf(await call(client, 'describe_table', { table: 'secrets' })).code).toBe('NOT_FOUND');
    const schema = errorOf(await call(client, 'list_tables', { schema: 'pg_catalog' }));
    expect(schema).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('available schemas: public') });
  });
});

describe('query', () => {
  let client: Client;
  beforeAll(async () => {
    client = await connectMcpClient((await db.startServer()).mcpUrl);
  });
  afterAll(() => client.close());

  it('runs a parameterised read and returns typed columns and JSON rows', async () => {
    const outcome = await call(client, 'query', {
      sql: 'SELECT id, email, created_at, $2::numeric AS factor FROM customers WHERE country = $1 ORDER BY id LIMIT 3',
      params: ['NL', '1.5'],
    });
    expect(outcome.isError).toBeFalsy();
    const result = outcome.structuredContent as {
      columns: unknown;
      rows: Record<string, unknown>[];
      rowCount: number;
      truncated: boolean;
    };
    expect(result.columns).toEqual([
      { name: 'id', type: 'bigint' },
      { name: 'email', type: 'text' },
      { name: 'created_at', type: 'timestamp with time zone' },
      { name: 'factor', type: 'numeric' },
    ]);
    expect(result.rows[0]).toMatchObject({ id: '2', email: 'customer2@example.com', factor: '1.5' });
    expect(result.rows[0]?.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(result).toMatchObject({ rowCount: 3, truncated: false });
  });

  it('keeps every column of a result with repeated names', async () => {
    const outcome = await call(client, 'query', { sql: 'SELECT 1 AS a, 2 AS a' });
    expect((outcome.structuredContent as { rows: unknown[] }).rows).toEqual([{ a: 1, a_2: 2 }]);
  });

  it.each([
    ['several statements with a COMMIT', 'SELECT 1; COMMIT; DROP TABLE customers', 'FORBIDDEN'],
    ['COMMIT', 'COMMIT', 'FORBIDDEN'],
    ['a write inside a CTE', 'WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone', 'FORBIDDEN'],
    ['a row lock', 'SELECT * FROM customers FOR UPDATE', 'FORBIDDEN'],
    ['set_config', "SELECT set_config('flotilla.tenant', 'other', false)", 'FORBIDDEN'],
    ['pg_read_file', "SELECT pg_read_file('/etc/passwd')", 'FORBIDDEN'],
    ['COPY TO PROGRAM', "COPY customers TO PROGRAM 'touch /tmp/flotilla-copy-ran'", 'FORBIDDEN'],
    ['SELECT INTO', 'SELECT * INTO stolen FROM customers', 'FORBIDDEN'],
    ['nextval', "SELECT nextval('audit_seq')", 'FORBIDDEN'],
    ['a syntax error', 'SELEC 1', 'INVALID_ARGUMENT'],
  ])('refuses %s before anything runs', async (_label, sql, code) => {
    const error = errorOf(await call(client, 'query', { sql }));
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(false);
  });

  it('left no trace of the refused statements', async () => {
    const { rows } = await db.admin(`
      SELECT (SELECT count(*) FROM orders)::int AS orders,
             to_regclass('public.stolen') IS NULL AS no_stolen_table,
             (SELECT last_value FROM audit_seq)::int AS sequence_value,
             (SELECT is_called FROM audit_seq) AS sequence_used`);
    expect(rows[0]).toEqual({ orders: 2000, no_stolen_table: true, sequence_value: 1, sequence_used: false });
    expect(existsSync('/tmp/flotilla-copy-ran')).toBe(false);
  });

  it('stops a write the parser cannot see with the read-only transaction (layer 2)', async () => {
    const error = errorOf(await call(client, 'query', { sql: 'SELECT sneaky_write()' }));
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toContain('read-only transaction');
  });

  it('stops a read the role was not granted (layer 3)', async () => {
    const error = errorOf(await call(client, 'query', { sql: 'SELECT token FROM secrets' }));
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toContain('permission denied');
    expect(JSON.stringify(error)).not.toContain('top-secret');
  });

  it('cancels pg_sleep beyond the statement timeout', async () => {
    const started = Date.now();
    const error = errorOf(await call(client, 'query', { sql: 'SELECT pg_sleep(10)' }));
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("runs every read under the server's timeouts and search path, on every pooled connection", async () => {
    // More reads at once than the pool has connections (10), so fresh and reused connections both answer.
    const sql =
      "SELECT current_setting('statement_timeout') AS statement_timeout, " +
      "current_setting('idle_in_transaction_session_timeout') AS idle, current_setting('search_path') AS path, " +
      "current_setting('transaction_read_only') AS read_only, pg_backend_pid() AS pid, pg_sleep(0.05)::text AS slept";
    const outcomes = await Promise.all(Array.from({ length: 24 }, () => call(client, 'query', { sql })));
    const rows = outcomes.map(
      (outcome) =>
        (outcome.structuredContent as { rows: Record<string, unknown>[] }).rows[0] as Record<string, unknown>,
    );
    for (const row of rows) {
      expect(row).toMatchObject({ statement_timeout: '1s', idle: '2s', path: 'public', read_only: 'on' });
    }
    expect(new Set(rows.map((row) => row.pid)).size).toBeGreaterThan(1);
  });

  it('caps a huge result by rows and by bytes, saying it truncated', async () => {
    const byDefault = (await call(client, 'query', { sql: 'SELECT g FROM generate_series(1, 100000) AS g' }))
      .structuredContent as { rowCount: number; truncated: boolean };
    expect(byDefault).toMatchObject({ rowCount: 100, truncated: true });
    const capped = (
      await call(client, 'query', { sql: 'SELECT g FROM generate_series(1, 100000) AS g', maxRows: 10000 })
    ).structuredContent as { rowCount: number; truncated: boolean };
    expect(capped).toMatchObject({ rowCount: 500, truncated: true });
    const wide = (
      await call(client, 'query', { sql: "SELECT repeat('x', 10000) AS blob FROM generate_series(1, 100)" })
    ).structuredContent as { rowCount: number; truncated: boolean };
    expect(wide.truncated).toBe(true);
    expect(wide.rowCount).toBeGreaterThan(10);
    expect(wide.rowCount).toBeLessThan(21);
    const exact = (await call(client, 'query', { sql: 'SELECT g FROM generate_series(1, 100) AS g' }))
      .structuredContent;
    expect(exact).toMatchObject({ rowCount: 100, truncated: false });
  });

  it('refuses a value that does not fit its parameter with INVALID_ARGUMENT', async () => {
    const error = errorOf(await call(client, 'query', { sql: 'SELECT * FROM orders WHERE id = $1', params: ['abc'] }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('invalid input syntax for type bigint');
  });
});

describe('explain', () => {
  let client: Client;
  beforeAll(async () => {
    client = await connectMcpClient((await db.startServer()).mcpUrl);
  });
  afterAll(() => client.close());

  it('returns the plan without running the statement', async () => {
    const outcome = await call(client, 'explain', {
      sql: 'SELECT * FROM orders WHERE customer_id = $1',
      params: [7],
    });
    const plan = outcome.structuredContent?.plan as Record<string, unknown>;
    expect(JSON.stringify(plan)).toContain('orders_customer_id_idx');
  });

  it('applies the query rules to the explained statement', async () => {
    expect(errorOf(await call(client, 'explain', { sql: 'DELETE FROM orders' })).code).toBe('FORBIDDEN');
  });
});

describe('cancellation and readiness', () => {
  it('cancels the running Postgres statement when the client cancels the call', async () => {
    const service = await db.startServer({ DB_STATEMENT_TIMEOUT_MS: '60000', TOOL_TIMEOUT_MS: '60000' });
    const client = await connectMcpClient(service.mcpUrl);
    const controller = new AbortController();
    const pending = client.callTool(
      { name: 'query', arguments: { sql: 'SELECT pg_sleep(30) AS cancel_me' } },
      { signal: controller.signal },
    );
    const active = async () =>
      (
        await db.admin(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%cancel_me%' AND pid <> pg_backend_pid()",
        )
      ).rows[0].n;
    await expect.poll(active, { timeout: 5000 }).toBe(1);
    controller.abort('the user clicked stop');
    await expect(pending).rejects.toThrow();
    await expect.poll(active, { timeout: 5000 }).toBe(0);
    await client.close();
  });

  it('turns /readyz 503 while Postgres is down and 200 when it returns', async () => {
    const service = await db.startServer();
    const ready = async () => (await fetch(`${service.adminUrl}/readyz`)).status;
    expect(await ready()).toBe(200);
    await db.postgres.stop();
    try {
      const response = await fetch(`${service.adminUrl}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ dependencies: { postgres: { status: 'down', required: true } } });
    } finally {
      await db.postgres.start();
    }
    await expect.poll(ready, { timeout: 10_000 }).toBe(200);
    // The pool and breaker recover by themselves: a query works again without a restart.
    const client = await connectMcpClient(service.mcpUrl);
    await expect
      .poll(async () => (await call(client, 'query', { sql: 'SELECT 1 AS ok' })).isError ?? false, { timeout: 10_000 })
      .toBe(false);
    await client.close();
  });
});
