import { connectMcpClient, mintApiKey, type RedisInstance, startRedis, writeApiKeysFile } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool, RUNTIME_ROLE, resultOf, startTestDatabase, type TestDatabase } from './testing/harness.js';

let db: TestDatabase;
let redis: RedisInstance;
let inspector: Redis;
let keysFile: string;

const acme = mintApiKey({ subject: 'agent', tenant: 'acme', scopes: ['db:read'] });
const globex = mintApiKey({ subject: 'agent', tenant: 'globex', scopes: ['db:read'] });

beforeAll(async () => {
  [db, redis] = await Promise.all([startTestDatabase(), startRedis()]);
  inspector = new Redis(redis.url, { lazyConnect: true });
  keysFile = await writeApiKeysFile([acme.entry, globex.entry]);
});

afterAll(async () => {
  inspector?.disconnect();
  await db?.stop();
  await redis?.destroy();
});

async function tableNames(client: Client): Promise<string[]> {
  const result = resultOf<{ tables: { name: string }[] }>(await callTool(client, 'list_tables', {}));
  return result.tables.map((table) => table.name);
}

async function connect(env: Record<string, string>, key: string) {
  const service = await db.startServer({ AUTH_MODE: 'api-key', AUTH_API_KEYS_FILE: keysFile, ...env });
  return connectMcpClient(service.mcpUrl, { token: key });
}

describe('the schema cache', () => {
  it('is shared by replicas through Redis, keyed by role and tenant, and expires', async () => {
    const env = { REDIS_URL: redis.url, DB_SCHEMA_CACHE_TTL_SECONDS: '2' };
    const [acmeOnA, acmeOnB, globexOnB] = await Promise.all([
      connect(env, acme.key),
      connect(env, acme.key),
      connect(env, globex.key),
    ]);
    try {
      expect(await tableNames(acmeOnA)).not.toContain('invoices');
      const keys = await inspector.keys('flotilla:database:schema:*');
      expect(keys).toEqual([`flotilla:database:schema:v1:${RUNTIME_ROLE}:acme:tables%2F*`]);

      await db.admin('CREATE TABLE invoices (id int); GRANT SELECT ON invoices TO flotilla_runtime');
      // Replica B answers acme from the entry replica A wrote; globex has its own entry, read fresh.
      expect(await tableNames(acmeOnB)).not.toContain('invoices');
      expect(await tableNames(globexOnB)).toContain('invoices');
      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect(await tableNames(acmeOnA)).toContain('invoices');
    } finally {
      await Promise.all([acmeOnA.close(), acmeOnB.close(), globexOnB.close()]);
      await db.admin('DROP TABLE invoices');
    }
  });

  it('reads the catalog directly when Redis is down', async () => {
    const client = await connect({ REDIS_URL: redis.url }, acme.key);
    try {
      await redis.stop();
      expect(await tableNames(client)).toContain('orders');
      const described = resultOf<{ primaryKey: string[] }>(
        await callTool(client, 'describe_table', { table: 'orders' }),
      );
      expect(described.primaryKey).toEqual(['id']);
    } finally {
      await redis.start();
      await client.close();
    }
  });

  it('is off with DB_SCHEMA_CACHE_TTL_SECONDS=0', async () => {
    const client = await connect({ DB_SCHEMA_CACHE_TTL_SECONDS: '0' }, acme.key);
    try {
      expect(await tableNames(client)).not.toContain('refunds');
      await db.admin('CREATE TABLE refunds (id int); GRANT SELECT ON refunds TO flotilla_runtime');
      expect(await tableNames(client)).toContain('refunds');
    } finally {
      await client.close();
    }
  });
});
