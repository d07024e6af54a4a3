import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresInstance, startPostgres } from './index.js';
import { resolveMode } from './mode.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('startPostgres', () => {
  let db: PostgresInstance;
  let local: boolean;

  beforeAll(async () => {
    local = (await resolveMode()) === 'local';
    db = await startPostgres();
  });

  afterAll(async () => {
    await db?.destroy();
  });

  it('serves the default database to the superuser on a private port', async () => {
    if (local) expect(db.host).toBe('127.0.0.1');
    expect(db.port).not.toBe(5432);
    expect(db.database).toBe('flotilla');
    expect(db.url).toBe(`postgres://postgres:postgres@${db.host}:${db.port}/flotilla`);
    const [row] = await query<{ one: number; db: string; who: string; superuser: string }>(
      db.url,
      `select 1 as one, current_database() as db, current_user as who, current_setting('is_superuser') as superuser`,
    );
    expect(row).toEqual({ one: 1, db: 'flotilla', who: 'postgres', superuser: 'on' });
  });

  it('builds URLs for other roles and enforces their passwords', async () => {
    await query(db.url, `create role app_user login password 'app secret'`);
    const [row] = await query<{ who: string }>(db.urlFor('app_user', 'app secret'), 'select current_user as who');
    expect(row?.who).toBe('app_user');
    await expect(query(db.urlFor('app_user', 'wrong'), 'select 1')).rejects.toThrow(/password authentication failed/);
    expect(db.urlFor('app_user', 'p@ss', 'postgres')).toBe(`postgres://app_user:p%40ss@${db.host}:${db.port}/postgres`);
  });

  it('stop() causes an outage that start() ends, on the same port and with the data kept', async () => {
    await query(db.url, "create table survivors (name text); insert into survivors values ('kept')");
    const port = db.port;

    await db.stop();
    await expect(query(db.url, 'select 1')).rejects.toThrow(/ECONNREFUSED/);

    await db.start();
    expect(db.port).toBe(port);
    expect(await query(db.url, 'select name from survivors')).toEqual([{ name: 'kept' }]);
  });

  it('crash() ends the server and its connections at once; start() recovers it on the same port with the data', async () => {
    await query(db.url, "create table crash_survivors (name text); insert into crash_survivors values ('kept')");
    const port = db.port;
    const held = new pg.Client({ connectionString: db.url });
    const lost = new Promise<Error>((resolve) => held.on('error', resolve));
    await held.connect();

    await db.crash();
    expect(await lost).toBeInstanceOf(Error);
    await expect(query(db.url, 'select 1')).rejects.toThrow(/ECONNREFUSED/);
    await held.end().catch(() => undefined);

    await db.start();
    expect(db.port).toBe(port);
    expect(await query(db.url, 'select name from crash_survivors')).toEqual([{ name: 'kept' }]);
  });

  it('destroy() deletes the temp dir, stops the server and is idempotent', async () => {
    const other = await startPostgres({ database: 'other' });
    expect(other.port).not.toBe(db.port);
    const [row] = await query<{ data_directory: string }>(other.url, 'show data_directory');
    const tempDir = dirname(row?.data_directory ?? '');
    if (local) {
      expect(tempDir).toMatch(/flotilla-pg-/);
      expect(existsSync(tempDir)).toBe(true);
    }

    await other.destroy();
    await other.destroy();
    if (local) expect(existsSync(tempDir)).toBe(false);
    await expect(query(other.url, 'select 1')).rejects.toThrow(/ECONNREFUSED/);
    await expect(other.start()).rejects.toThrow(/destroyed/);
  });

  it.skipIf(process.env.FLOTILLA_TESTKIT_MODE === 'containers')('explains a missing PostgreSQL clearly', async () => {
    const saved = process.env.FLOTILLA_PG_BIN;
    process.env.FLOTILLA_PG_BIN = '/nonexistent/bin';
    try {
      await expect(startPostgres()).rejects.toThrow("FLOTILLA_PG_BIN=/nonexistent/bin does not contain both 'initdb'");
    } finally {
      if (saved === undefined) delete process.env.FLOTILLA_PG_BIN;
      else process.env.FLOTILLA_PG_BIN = saved;
    }
  });
});
