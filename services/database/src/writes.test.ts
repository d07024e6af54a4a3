import { randomUUID } from 'node:crypto';
import type { RunningService } from '@flotilla/runtime';
import { connectMcpClient, mintApiKey, type RedisInstance, startRedis, writeApiKeysFile } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool, errorOf, resultOf, startTestDatabase, type TestDatabase } from './testing/harness.js';

type WriteResult = { rowCount: number; rows: Record<string, unknown>[]; truncated: boolean; replayed: boolean };

let db: TestDatabase;
let redis: RedisInstance;
let replicaA: RunningService;
let replicaB: RunningService;
let clientA: Client;
let clientB: Client;

const writer = mintApiKey({ subject: 'writer', tenant: 'acme', scopes: ['db:read', 'db:write'] });
const reader = mintApiKey({ subject: 'reader', tenant: 'acme', scopes: ['db:read'] });
const otherTenant = mintApiKey({ subject: 'writer', tenant: 'globex', scopes: ['db:read', 'db:write'] });

beforeAll(async () => {
  [db, redis] = await Promise.all([
    startTestDatabase({
      writableTables: 'orders,order_items,notes',
      prepare: `
        CREATE TABLE notes (id serial PRIMARY KEY, body jsonb, tags text[], author text NOT NULL DEFAULT 'agent');
        COMMENT ON TABLE notes IS 'Free-form notes.';
      `,
    }),
    startRedis(),
  ]);
  const keysFile = await writeApiKeysFile([writer.entry, reader.entry, otherTenant.entry]);
  const env = { AUTH_MODE: 'api-key', AUTH_API_KEYS_FILE: keysFile, REDIS_URL: redis.url };
  [replicaA, replicaB] = await Promise.all([db.startServer(env), db.startServer(env)]);
  [clientA, clientB] = await Promise.all([
    connectMcpClient(replicaA.mcpUrl, { token: writer.key }),
    connectMcpClient(replicaB.mcpUrl, { token: writer.key }),
  ]);
});

afterAll(async () => {
  await Promise.all([clientA?.close(), clientB?.close()]);
  await db?.stop();
  await redis?.destroy();
});

async function countOrders(where: string): Promise<number> {
  return Number((await db.admin(`SELECT count(*) AS n FROM orders WHERE ${where}`)).rows[0].n);
}

describe('the write tools', () => {
  it('are listed with truthful annotations', async () => {
    const { tools } = await clientA.listTools();
    const byName = new Map(tools.map((tool) => [tool.name, tool.annotations]));
    expect(byName.get('insert_rows')).toMatchObject({ readOnlyHint: false, destructiveHint: false });
    expect(byName.get('update_rows')).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(byName.get('delete_rows')).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });

  it('insert rows with bound values, defaults for missing columns, and return the primary key', async () => {
    const result = resultOf<WriteResult>(
      await callTool(clientA, 'insert_rows', {
        table: 'orders',
        rows: [{ customer_id: 1, status: 'paid' }, { customer_id: 2 }],
        returning: ['id', 'status'],
      }),
    );
    expect(result.rowCount).toBe(2);
    expect(result.rows.map((row) => row.status)).toEqual(['paid', 'placed']);
    const ids = result.rows.map((row) => row.id as string);
    const stored = await db.admin('SELECT customer_id, status FROM orders WHERE id = ANY($1) ORDER BY id', [ids]);
    expect(stored.rows).toEqual([
      { customer_id: '1', status: 'paid' },
      { customer_id: '2', status: 'placed' },
    ]);
  });

  it('store hostile text as data: values are bind parameters, never SQL', async () => {
    const hostile = "x'); DROP TABLE orders; --";
    const result = resultOf<WriteResult>(
      await callTool(clientA, 'insert_rows', {
        table: 'notes',
        rows: [{ body: { text: hostile, n: [1, 2] }, tags: ['a', "b'c"], author: hostile }],
        returning: ['id', 'body', 'tags', 'author'],
      }),
    );
    expect(result.rows[0]).toMatchObject({ body: { text: hostile, n: [1, 2] }, tags: ['a', "b'c"], author: hostile });
    expect(await countOrders('true')).toBeGreaterThan(0);
  });

  it('update the matching rows only, with in/comparison terms', async () => {
    const inserted = resultOf<WriteResult>(
      await callTool(clientA, 'insert_rows', { table: 'orders', rows: [{ customer_id: 3 }, { customer_id: 3 }] }),
    );
    const ids = inserted.rows.map((row) => Number(row.id));
    const updated = resultOf<WriteResult>(
      await callTool(clientA, 'update_rows', {
        table: 'orders',
        set: { status: 'shipped' },
        where: [
          { column: 'id', op: 'in', value: ids },
          { column: 'status', op: '=', value: 'placed' },
        ],
        expectedCount: 2,
      }),
    );
    expect(updated.rowCount).toBe(2);
    expect(await countOrders(`id IN (${ids.join(',')}) AND status = 'shipped'`)).toBe(2);
  });

  it('delete the matching rows and report what they were', async () => {
    const inserted = resultOf<WriteResult>(
      await callTool(clientA, 'insert_rows', { table: 'orders', rows: [{ customer_id: 4, status: 'cancelled' }] }),
    );
    const id = Number(inserted.rows[0]?.id);
    const deleted = resultOf<WriteResult>(
      await callTool(clientA, 'delete_rows', {
        table: 'orders',
        where: [{ column: 'id', value: id }],
        expectedCount: 1,
      }),
    );
    expect(deleted).toMatchObject({ rowCount: 1, rows: [{ id: String(id) }], replayed: false });
    expect(await countOrders(`id = ${id}`)).toBe(0);
  });
});

describe('write refusals', () => {
  it('refuse an unknown table, a table that is not writable and a column that does not exist', async () => {
    const unknown = errorOf(await callTool(clientA, 'insert_rows', { table: 'nope', rows: [{ a: 1 }] }));
    expect(unknown.code).toBe('NOT_FOUND');
    const readOnly = errorOf(
      await callTool(clientA, 'delete_rows', { table: 'customers', where: [{ column: 'id', value: 1 }] }),
    );
    expect(readOnly).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringContaining('writable tables: public.orders'),
    });
    const column = errorOf(
      await callTool(clientA, 'update_rows', {
        table: 'orders',
        set: { 'status" = NULL; --': 'x' },
        where: [{ column: 'id', value: 1 }],
      }),
    );
    expect(column).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('has no column') });
    expect(await countOrders('id = 1')).toBe(1);
  });

  it('refuse values the table constraints reject with INVALID_ARGUMENT or CONFLICT, changing nothing', async () => {
    const before = await countOrders('true');
    const check = errorOf(
      await callTool(clientA, 'insert_rows', { table: 'orders', rows: [{ customer_id: 1, status: 'lost' }] }),
    );
    expect(check).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('orders_status_check') });
    const reference = errorOf(
      await callTool(clientA, 'insert_rows', { table: 'orders', rows: [{ customer_id: 999_999 }] }),
    );
    expect(reference).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('foreign key') });
    const missing = errorOf(
      await callTool(clientA, 'update_rows', {
        table: 'orders',
        set: { customer_id: null },
        where: [{ column: 'id', value: 1 }],
      }),
    );
    expect(missing).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('not-null') });
    const item = { order_id: 1, product_id: 1, quantity: 1 };
    await callTool(clientA, 'delete_rows', {
      table: 'order_items',
      where: [
        { column: 'order_id', value: 1 },
        { column: 'product_id', value: 1 },
      ],
    });
    resultOf(await callTool(clientA, 'insert_rows', { table: 'order_items', rows: [item] }));
    const duplicate = errorOf(await callTool(clientA, 'insert_rows', { table: 'order_items', rows: [item] }));
    expect(duplicate).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('duplicate key') });
    expect(await countOrders('true')).toBe(before);
  });

  it('refuse an empty where and terms with the wrong kind of value', async () => {
    const before = await countOrders('true');
    const empty = errorOf(await callTool(clientA, 'delete_rows', { table: 'orders', where: [] }));
    expect(empty).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('where needs at least one term'),
    });
    const missingValue = errorOf(
      await callTool(clientA, 'update_rows', { table: 'orders', set: { status: 'paid' }, where: [{ column: 'id' }] }),
    );
    expect(missingValue.message).toContain('needs a value');
    const notAList = errorOf(
      await callTool(clientA, 'delete_rows', { table: 'orders', where: [{ column: 'id', op: 'in', value: 5 }] }),
    );
    expect(notAList.message).toContain('needs an array');
    expect(await countOrders('true')).toBe(before);
  });

  it('roll back a change whose row count differs from expectedCount', async () => {
    const shippedBefore = await countOrders("customer_id = 5 AND status = 'shipped'");
    const placed = await countOrders('customer_id = 5');
    const mismatch = errorOf(
      await callTool(clientA, 'update_rows', {
        table: 'orders',
        set: { status: 'shipped' },
        where: [{ column: 'customer_id', value: 5 }],
        expectedCount: placed + 1,
      }),
    );
    expect(mismatch).toMatchObject({
      code: 'PRECONDITION_FAILED',
      message: expect.stringContaining(`matched ${placed} row(s), so nothing was changed`),
    });
    expect(await countOrders("customer_id = 5 AND status = 'shipped'")).toBe(shippedBefore);
  });

  it('are hidden from and refused to a caller without db:write', async () => {
    const client = await connectMcpClient(replicaA.mcpUrl, { token: reader.key });
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names).toContain('query');
      expect(names).not.toContain('insert_rows');
      await expect(
        client.callTool({ name: 'insert_rows', arguments: { table: 'orders', rows: [{ customer_id: 1 }] } }),
      ).rejects.toThrow(/403|insufficient_scope|scope/i);
    } finally {
      await client.close();
    }
  });

  it('are hidden and refused with READ_ONLY on, and when no table is writable', async () => {
    for (const env of [{ READ_ONLY: 'true' }, { DB_WRITABLE_TABLES: '' }] as Record<string, string>[]) {
      const service = await db.startServer(env);
      const client = await connectMcpClient(service.mcpUrl);
      try {
        const names = (await client.listTools()).tools.map((tool) => tool.name);
        expect(names).not.toContain('update_rows');
        const refused = errorOf(
          await callTool(client, 'update_rows', {
            table: 'orders',
            set: { status: 'paid' },
            where: [{ column: 'id', value: 1 }],
          }),
        );
        expect(refused).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('disabled') });
      } finally {
        await client.close();
      }
    }
  });
});

describe('idempotencyKey', () => {
  const insertWith = (client: Client, key: string, customer = 6) =>
    callTool(client, 'insert_rows', {
      table: 'orders',
      rows: [{ customer_id: customer, status: 'paid' }],
      idempotencyKey: key,
    });

  it('makes a retry through a second replica return the first result and insert once', async () => {
    const key = randomUUID();
    const before = await countOrders("customer_id = 6 AND status = 'paid'");
    const first = resultOf<WriteResult>(await insertWith(clientA, key));
    const retried = resultOf<WriteResult>(await insertWith(clientB, key));
    expect(first.replayed).toBe(false);
    expect(retried).toEqual({ ...first, replayed: true });
    expect(await countOrders(`id = ${Number(first.rows[0]?.id)}`)).toBe(1);
    expect(await countOrders("customer_id = 6 AND status = 'paid'")).toBe(before + 1);
  });

  it('inserts once when both replicas receive the same call at the same moment', async () => {
    const key = randomUUID();
    const before = await countOrders('customer_id = 7');
    const outcomes = await Promise.all([
      insertWith(clientA, key, 7),
      insertWith(clientB, key, 7),
      insertWith(clientA, key, 7),
    ]);
    const results = outcomes.map((outcome) => resultOf<WriteResult>(outcome));
    expect(results.filter((result) => !result.replayed)).toHaveLength(1);
    expect(new Set(results.map((result) => result.rows[0]?.id)).size).toBe(1);
    expect(await countOrders('customer_id = 7')).toBe(before + 1);
  });

  it('refuses a key reused for different arguments', async () => {
    const key = randomUUID();
    const before = await countOrders('customer_id = 9');
    resultOf(await insertWith(clientA, key, 8));
    const reused = errorOf(await insertWith(clientB, key, 9));
    expect(reused).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('already used') });
    expect(await countOrders('customer_id = 9')).toBe(before);
  });

  it('is released by a change that rolled back, so the corrected retry applies', async () => {
    const key = randomUUID();
    const [order] = resultOf<WriteResult>(
      await callTool(clientA, 'insert_rows', { table: 'orders', rows: [{ customer_id: 10 }] }),
    ).rows;
    const change = (expected: number) =>
      callTool(clientA, 'update_rows', {
        table: 'orders',
        set: { status: 'cancelled' },
        where: [{ column: 'id', value: Number(order?.id) }],
        expectedCount: expected,
        idempotencyKey: key,
      });
    expect(errorOf(await change(2)).code).toBe('PRECONDITION_FAILED');
    // A different expectedCount is a different request: the failed attempt left no record behind.
    expect(resultOf<WriteResult>(await change(1))).toMatchObject({ rowCount: 1, replayed: false });
    expect(resultOf<WriteResult>(await change(1))).toMatchObject({ rowCount: 1, replayed: true });
  });

  it('scopes keys to the tenant: another tenant using the same key makes its own change', async () => {
    const key = randomUUID();
    const before = await countOrders('customer_id = 11');
    resultOf(await insertWith(clientA, key, 11));
    const other = await connectMcpClient(replicaB.mcpUrl, { token: otherTenant.key });
    try {
      expect(resultOf<WriteResult>(await insertWith(other, key, 11)).replayed).toBe(false);
    } finally {
      await other.close();
    }
    expect(await countOrders('customer_id = 11')).toBe(before + 2);
    const records = await db.admin('SELECT tenant FROM flotilla.idempotency_keys WHERE key = $1 ORDER BY tenant', [
      key,
    ]);
    expect(records.rows).toEqual([{ tenant: 'acme' }, { tenant: 'globex' }]);
  });
});
