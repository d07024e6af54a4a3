import { connectMcpClient, mintApiKey, runSqlFile, writeApiKeysFile } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool, errorOf, resultOf, sqlFile, startTestDatabase, type TestDatabase } from './testing/harness.js';

type Rows = { rows: Record<string, unknown>[]; rowCount: number };
type WriteResult = { rowCount: number; rows: Record<string, unknown>[] };

let db: TestDatabase;
let acme: Client;
let globex: Client;
/** Ids of globex's rows, which acme must never see or change. */
let globexTaskIds: number[];

const acmeKey = mintApiKey({ subject: 'agent', tenant: 'acme', scopes: ['db:read', 'db:write'] });
const globexKey = mintApiKey({ subject: 'agent', tenant: 'globex', scopes: ['db:read', 'db:write'] });

beforeAll(async () => {
  db = await startTestDatabase({
    writableTables: 'projects,tasks',
    prepare: `
      CREATE TABLE projects (id serial PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
      CREATE TABLE tasks (
        id serial PRIMARY KEY,
        tenant_id text NOT NULL,
        project_id int NOT NULL REFERENCES projects (id),
        title text NOT NULL
      );
      INSERT INTO projects (tenant_id, name) VALUES ('acme', 'Rocket'), ('globex', 'Doomsday device');
      INSERT INTO tasks (tenant_id, project_id, title)
        SELECT 'acme', 1, 'acme task ' || n FROM generate_series(1, 3) n
        UNION ALL SELECT 'globex', 2, 'globex secret ' || n FROM generate_series(1, 4) n;
    `,
  });
  for (const table of ['public.projects', 'public.tasks']) {
    await runSqlFile(db.postgres.url, sqlFile('tenant-policy.sql'), { table, column: 'tenant_id' });
  }
  globexTaskIds = (await db.admin("SELECT id FROM tasks WHERE tenant_id = 'globex' ORDER BY id")).rows.map(
    (row) => row.id,
  );
  const keysFile = await writeApiKeysFile([acmeKey.entry, globexKey.entry]);
  const service = await db.startServer({
    AUTH_MODE: 'api-key',
    AUTH_API_KEYS_FILE: keysFile,
    DB_TENANT_MODE: 'rls',
  });
  [acme, globex] = await Promise.all([
    connectMcpClient(service.mcpUrl, { token: acmeKey.key }),
    connectMcpClient(service.mcpUrl, { token: globexKey.key }),
  ]);
});

afterAll(async () => {
  await Promise.all([acme?.close(), globex?.close()]);
  await db?.stop();
});

const query = async (client: Client, sql: string, params: unknown[] = []) =>
  resultOf<Rows>(await callTool(client, 'query', { sql, params }));

async function globexTitles(): Promise<string[]> {
  return (await db.admin("SELECT title FROM tasks WHERE tenant_id = 'globex' ORDER BY id")).rows.map((r) => r.title);
}

describe('row-level security per tenant', () => {
  it('shows each tenant only its own rows', async () => {
    const mine = await query(acme, 'SELECT tenant_id, title FROM tasks ORDER BY id');
    expect(mine.rows.map((row) => row.title)).toEqual(['acme task 1', 'acme task 2', 'acme task 3']);
    const theirs = await query(globex, 'SELECT count(*)::int AS n FROM tasks');
    expect(theirs.rows).toEqual([{ n: 4 }]);
  });

  it.each([
    ["SELECT * FROM tasks WHERE tenant_id = 'globex'"],
    ['SELECT * FROM tasks WHERE id = ANY($1::int[])'],
    ["SELECT * FROM tasks WHERE tenant_id = 'globex' OR true"],
    ["SELECT * FROM tasks /* tenant_id = 'acme' */ WHERE title LIKE 'globex%' -- ; SET flotilla.tenant = 'globex'"],
    ["WITH theirs AS (SELECT * FROM tasks WHERE tenant_id <> current_setting('flotilla.tenant')) SELECT * FROM theirs"],
    ["SELECT * FROM tasks WHERE tenant_id = (SELECT tenant_id FROM projects WHERE name = 'Doomsday device')"],
    ['SELECT t.* FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.id = 2'],
    ["SELECT * FROM tasks WHERE tenant_id IN (SELECT 'globex' UNION SELECT current_setting('flotilla.tenant'))"],
    ["SELECT * FROM tasks WHERE title LIKE 'globex%'"],
  ])('finds none of the other tenant’s rows with %s', async (sql) => {
    const params = sql.includes('$1') ? [`{${globexTaskIds.join(',')}}`] : [];
    const result = await query(acme, sql, params);
    expect(result.rows.filter((row) => row.tenant_id === 'globex' || String(row.title).startsWith('globex'))).toEqual(
      [],
    );
  });

  it('sees its own tenant in the setting and cannot change it with crafted SQL', async () => {
    const setting = await query(acme, "SELECT current_setting('flotilla.tenant') AS tenant");
    expect(setting.rows).toEqual([{ tenant: 'acme' }]);
    for (const sql of [
      "SELECT set_config('flotilla.tenant', 'globex', true), * FROM tasks",
      "WITH s AS (SELECT set_config('flotilla.tenant', 'globex', false)) SELECT * FROM tasks, s",
      "SELECT * FROM tasks WHERE (SELECT set_config('flotilla.tenant', 'globex', true)) IS NOT NULL",
      "SET flotilla.tenant = 'globex'",
      'RESET flotilla.tenant',
      'RESET ALL',
      'SET ROLE postgres',
      "SELECT 1; SELECT set_config('flotilla.tenant', 'globex', true)",
      'COMMIT; SELECT * FROM tasks',
    ]) {
      const refused = errorOf(await callTool(acme, 'query', { sql }));
      expect(['FORBIDDEN', 'INVALID_ARGUMENT'], `${sql}: ${refused.message}`).toContain(refused.code);
    }
    expect((await query(acme, 'SELECT count(*)::int AS n FROM tasks')).rows).toEqual([{ n: 3 }]);
  });

  it('cannot update or delete the other tenant’s rows, even by id', async () => {
    const before = await globexTitles();
    const updated = resultOf<WriteResult>(
      await callTool(acme, 'update_rows', {
        table: 'tasks',
        set: { title: 'pwned' },
        where: [{ column: 'id', op: 'in', value: globexTaskIds }],
      }),
    );
    expect(updated.rowCount).toBe(0);
    const deleted = resultOf<WriteResult>(
      await callTool(acme, 'delete_rows', { table: 'tasks', where: [{ column: 'tenant_id', value: 'globex' }] }),
    );
    expect(deleted.rowCount).toBe(0);
    const expected = errorOf(
      await callTool(acme, 'delete_rows', {
        table: 'tasks',
        where: [{ column: 'id', value: globexTaskIds[0] }],
        expectedCount: 1,
      }),
    );
    expect(expected.code).toBe('PRECONDITION_FAILED');
    expect(await globexTitles()).toEqual(before);
  });

  it('cannot insert rows for, or move its rows to, the other tenant', async () => {
    const forged = errorOf(
      await callTool(acme, 'insert_rows', {
        table: 'tasks',
        rows: [{ tenant_id: 'globex', project_id: 2, title: 'planted' }],
      }),
    );
    expect(forged.code).toBe('FORBIDDEN');
    const moved = errorOf(
      await callTool(acme, 'update_rows', {
        table: 'tasks',
        set: { tenant_id: 'globex' },
        where: [{ column: 'title', value: 'acme task 1' }],
      }),
    );
    expect(moved.code).toBe('FORBIDDEN');
    expect((await db.admin("SELECT count(*)::int AS n FROM tasks WHERE title = 'planted'")).rows[0].n).toBe(0);
    expect(await globexTitles()).toHaveLength(4);
  });

  it('fills in the caller’s tenant when an insert leaves it out', async () => {
    const inserted = resultOf<WriteResult>(
      await callTool(acme, 'insert_rows', {
        table: 'tasks',
        rows: [{ project_id: 1, title: 'acme task 4' }],
        returning: ['id', 'tenant_id'],
      }),
    );
    expect(inserted.rows).toEqual([{ id: expect.any(Number), tenant_id: 'acme' }]);
    expect((await query(globex, "SELECT * FROM tasks WHERE title = 'acme task 4'")).rowCount).toBe(0);
  });
});
