import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_ROLE, startTestDatabase, type TestDatabase } from './testing/harness.js';

/**
 * Layer 3 on its own: these tests skip the server (and so the SQL parser guard and the read-only
 * transaction) and talk to Postgres as the runtime role directly, as agent SQL would if the other
 * layers failed.
 */
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await startTestDatabase({ writableTables: 'orders' });
  pool = new pg.Pool({ connectionString: db.runtimeUrl, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await db?.stop();
});

/** Runs statements in an explicit read-write transaction, so only the role's privileges stand in the way. */
async function asRuntimeRole(sql: string): Promise<unknown> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN READ WRITE');
    return await client.query(sql);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

describe('the runtime role, reached without the server', () => {
  it('is a plain login role with a connection limit, role-level timeouts and no bypass of row-level security', async () => {
    const { rows } = await db.admin(
      `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolinherit, rolconnlimit, rolconfig
         FROM pg_roles WHERE rolname = $1`,
      [RUNTIME_ROLE],
    );
    expect(rows[0]).toMatchObject({
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolreplication: false,
      rolbypassrls: false,
      rolinherit: false,
      rolconnlimit: 20,
    });
    expect(rows[0].rolconfig).toEqual(
      expect.arrayContaining(['default_transaction_read_only=on', 'statement_timeout=30s']),
    );
  });

  it('starts every session read-only', async () => {
    await expect(pool.query('INSERT INTO orders (customer_id) VALUES (1)')).rejects.toMatchObject({ code: '25006' });
  });

  it.each([
    ['CREATE TABLE evil (id int)', '42501'],
    ['CREATE TEMP TABLE evil (id int)', '42501'],
    ['CREATE SCHEMA evil', '42501'],
    ['CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', '42501'],
    ['CREATE VIEW evil AS SELECT 1', '42501'],
    ["INSERT INTO customers (email, name, country) VALUES ('x@y.z', 'x', 'DE')", '42501'],
    ['UPDATE products SET price_cents = 0', '42501'],
    ['DELETE FROM customers', '42501'],
    ['TRUNCATE orders', '42501'],
    ['ALTER TABLE orders ADD COLUMN evil int', '42501'],
    ['DROP TABLE orders', '42501'],
    ['SET ROLE postgres', '42501'],
    ['SET SESSION AUTHORIZATION postgres', '42501'],
    ["COPY orders TO PROGRAM 'id'", '42501'],
    ["SELECT pg_read_file('/etc/passwd')", '42501'],
    ["SELECT lo_import('/etc/passwd')", '42501'],
  ])('cannot: %s', async (sql, code) => {
    await expect(asRuntimeRole(sql)).rejects.toMatchObject({ code });
  });

  it('can change rows of a writable table only, inside an explicit read-write transaction', async () => {
    const before = (await db.admin('SELECT status FROM orders WHERE id = 1')).rows[0].status;
    const updated = (await asRuntimeRole("UPDATE orders SET status = 'cancelled' WHERE id = 1")) as pg.QueryResult;
    expect(updated.rowCount).toBe(1);
    // Rolled back by asRuntimeRole: the grant allowed the change, nothing kept it.
    expect((await db.admin('SELECT status FROM orders WHERE id = 1')).rows[0].status).toBe(before);
  });
});
