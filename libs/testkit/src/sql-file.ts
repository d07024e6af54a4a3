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
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
