import { connectMcpClient } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool as call, errorOf, RUNTIME_ROLE, startTestDatabase, type TestDatabase } from './testing/harness.js';

// One pooled connection, so every read below runs on the same Postgres session and sees the
// statements the earlier ones left prepared on it.
let db: TestDatabase;
let client: Client;

beforeAll(async () => {
  db = await startTestDatabase({ prepare: 'CREATE TABLE evolving (a int); INSERT INTO evolving VALUES (1);' });
  await db.admin(`GRANT SELECT ON evolving TO ${RUNTIME_ROLE}`);
  client = await connectMcpClient((await db.startServer({ DB_POOL_MAX: '1' })).mcpUrl);
});

afterAll(async () => {
  await client?.close();
  await db?.stop();
});

async function rows(sql: string, params: unknown[] = []) {
  const outcome = await call(client, 'query', { sql, params });
  if (outcome.isError) throw new Error(JSON.stringify(outcome.structuredContent ?? outcome.content));
  return outcome.structuredContent as { columns: { name: string }[]; rows: Record<string, unknown>[] };
}

const preparedCount = async () =>
  (await rows('SELECT count(*)::int AS n FROM pg_prepared_statements')).rows[0]?.n as number;

describe('reads as prepared, pipelined statements', () => {
  it('prepares a repeated statement once on its connection', async () => {
    await rows('SELECT id FROM customers WHERE id = $1', [1]);
    const before = await preparedCount();
    for (let customer = 1; customer <= 20; customer++) {
      expect((await rows('SELECT id FROM customers WHERE id = $1', [customer])).rows).toEqual([
        { id: String(customer) },
      ]);
    }
    expect(await preparedCount()).toBe(before);
  });

  it('keeps at most 100 statements prepared per connection, closing the least recently used', async () => {
    for (let index = 0; index < 150; index++) {
      expect((await rows(`SELECT ${index} AS v`)).rows).toEqual([{ v: index }]);
    }
    const count = await preparedCount();
    expect(count).toBeLessThanOrEqual(100);
    expect(count).toBeGreaterThan(90);
  });

  it('rolls back a statement that fails half-way through its rows, and the connection reads on', async () => {
    const failed = errorOf(
      await call(client, 'query', { sql: 'SELECT 10 / (x - 5) AS v FROM generate_series(1, 9) x' }),
    );
    expect(failed.message).toMatch(/division by zero/);
    // Still inside the failed transaction, Postgres would refuse every statement ("current transaction is aborted").
    const after = await rows('SELECT 10 / (x - 6) AS v FROM generate_series(1, 3) x');
    expect(after.rows).toEqual([{ v: -2 }, { v: -2 }, { v: -3 }]);
  });

  it('does not keep a statement that failed to parse, and runs its corrected text', async () => {
    const before = await preparedCount();
    expect(errorOf(await call(client, 'query', { sql: 'SELECT nosuchcolumn FROM customers' })).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect(
      errorOf(await call(client, 'query', { sql: 'SELECT id FROM customers WHERE id = $1', params: [1, 2] })).code,
    ).toBe('INVALID_ARGUMENT');
    expect((await rows('SELECT count(*)::int AS n FROM customers WHERE id < $1', [3])).rows).toEqual([{ n: 2 }]);
    // The count query itself was already prepared; the failed texts left nothing behind.
    expect(await preparedCount()).toBeLessThanOrEqual(before + 1);
  });

  it('re-prepares a statement whose table changed columns instead of failing', async () => {
    expect((await rows('SELECT * FROM evolving')).columns.map((column) => column.name)).toEqual(['a']);
    await db.admin('ALTER TABLE evolving ADD COLUMN b text DEFAULT $$new$$');
    const changed = await rows('SELECT * FROM evolving');
    expect(changed.columns.map((column) => column.name)).toEqual(['a', 'b']);
    expect(changed.rows).toEqual([{ a: 1, b: 'new' }]);
  });

  it('applies the statement timeout to the pipelined statement', async () => {
    const server = await db.startServer({ DB_STATEMENT_TIMEOUT_MS: '300' });
    const timed = await connectMcpClient(server.mcpUrl);
    try {
      const started = performance.now();
      const outcome = errorOf(await call(timed, 'query', { sql: 'SELECT pg_sleep(5)::text AS slept' }));
      expect(outcome.code).toBe('TIMEOUT');
      expect(performance.now() - started).toBeLessThan(3000);
      expect((await call(timed, 'query', { sql: 'SELECT 1 AS one' })).structuredContent?.rows).toEqual([{ one: 1 }]);
    } finally {
      await timed.close();
    }
  });
});

describe('timestamptz values', () => {
  // Postgres formats each value; the expected JSON is what a JavaScript Date of it gives (milliseconds, cut off).
  const samples = [
    "'2026-11-21 05:13:19.123456+00'",
    "'2026-11-21 05:13:19+00'",
    "'2026-11-21 05:13:19.5+00'",
    "'1999-12-31 23:59:59.999999+00'",
    "'0050-06-01 12:00:00.010+00'",
    "'2026-03-29 01:30:00+05:30'",
    "'10000-01-01 00:00:00+00'",
  ];
  const sql = `SELECT ${samples.map((text, index) => `${text}::timestamptz AS t${index}`).join(', ')}`;
  const epochMs = `SELECT ${samples.map((text, index) => `(extract(epoch FROM ${text}::timestamptz) * 1000)::float8 AS t${index}`).join(', ')}`;

  it('come out as the ISO text of their instant, in UTC and in any other session time zone', async () => {
    const epochs = (await rows(epochMs)).rows[0] as Record<string, number>;
    const expected = Object.fromEntries(
      Object.entries(epochs).map(([column, ms]) => [column, new Date(Math.floor(ms)).toISOString()]),
    );
    expect((await rows(sql)).rows[0]).toEqual(expected);
    // A role whose sessions run in another zone takes the Date path, with the same answer.
    await db.admin(`ALTER ROLE ${RUNTIME_ROLE} SET timezone = 'America/St_Johns'`);
    try {
      const zoned = await db.startServer();
      const other = await connectMcpClient(zoned.mcpUrl);
      try {
        const outcome = await call(other, 'query', { sql });
        expect(outcome.structuredContent?.rows).toEqual([expected]);
      } finally {
        await other.close();
      }
    } finally {
      await db.admin(`ALTER ROLE ${RUNTIME_ROLE} RESET timezone`);
    }
  });
});
