import { readFile } from 'node:fs/promises';
import pg from 'pg';

/**
 * Runs a SQL file written for `psql -v name=value -f file` through `pg`, so tests apply the very
 * bootstrap scripts operators run. Supports psql's `:'name'` (literal) and `:"name"` (identifier).
 */
export async function runSqlFile(url: string, path: string, variables: Record<string, string> = {}): Promise<void> {
  const template = await readFile(path, 'utf8');
  const sql = template.replace(/:(['"])([A-Za-z_][A-Za-z0-9_]*)\1/g, (_match, quote: string, name: string) => {
    const value = variables[name];
    if (value === undefined) throw new Error(`${path}: no value for psql variable ${name}`);
    return quote === "'" ? pg.escapeLiteral(value) : pg.escapeIdentifier(value);
  });
  await queryOnce(url, sql);
}

/** One statement on a connection of its own: what tests run behind a server's back, surviving Postgres restarts. */
export async function queryOnce(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}
