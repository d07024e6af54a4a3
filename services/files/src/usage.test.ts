import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisInstance, startRedis } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool, errorOf, type FilesTestBed, resultOf, startFilesTestBed } from './testing/harness.js';
import { bytesOnDisk, metricValue, UsageProbe } from './testing/usage.js';
import { RedisUsageStore } from './usage-store.js';

let bed: FilesTestBed;
let redis: RedisInstance;
const clients: Redis[] = [];
let probe: UsageProbe;

beforeAll(async () => {
  [bed, redis] = await Promise.all([startFilesTestBed(), startRedis()]);
  probe = new UsageProbe(redisClient());
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await bed?.stop();
  await redis?.destroy();
});

function redisClient(url = redis.url): Redis {
  const client = new Redis(url);
  clients.push(client);
  return client;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the condition did not hold in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the tenant usage counter in Redis', () => {
  it('follows writes, edits, overwrites, moves and deletes byte for byte, as a walk of the tree counts them', async () => {
    const root = bed.tenantRoot('acme');
    // Files from before the server's first sight of the tenant: the first count is a walk.
    await mkdir(join(root, 'old'), { recursive: true });
    await writeFile(join(root, 'old/seed.txt'), 's'.repeat(1234));
    await writeFile(join(root, 'old/other.txt'), 'o'.repeat(321));
    const service = await bed.startServer({ REDIS_URL: redis.url });
    const client = await bed.connect(service, 'acme');
    const steps: [string, () => Promise<unknown>][] = [
      ['create', () => callTool(client, 'write_file', { path: 'a.txt', content: 'a'.repeat(100) })],
      ['overwrite smaller', () => callTool(client, 'write_file', { path: 'a.txt', content: 'a'.repeat(40) })],
      ['overwrite larger', () => callTool(client, 'write_file', { path: 'a.txt', content: 'a'.repeat(3000) })],
      [
        'create only',
        () => callTool(client, 'write_file', { path: 'b.txt', content: `${'b'.repeat(70)}END`, createOnly: true }),
      ],
      ['binary', () => callTool(client, 'write_file', { path: 'c.bin', content: 'AAECAwQ=', encoding: 'base64' })],
      ['edit growing', () => edit(client, 'b.txt', 'END', 'x'.repeat(900))],
      ['edit shrinking', () => edit(client, 'b.txt', 'b'.repeat(70), 'y')],
      [
        'edit dry run',
        () =>
          callTool(client, 'edit_file', {
            path: 'b.txt',
            edits: [{ oldText: 'y', newText: 'z'.repeat(99) }],
            dryRun: true,
          }),
      ],
      ['make directory', () => callTool(client, 'make_directory', { path: 'docs/deep' })],
      ['nested create', () => callTool(client, 'write_file', { path: 'docs/deep/d.txt', content: 'd'.repeat(500) })],
      ['move a file', () => callTool(client, 'move', { from: 'a.txt', to: 'docs/a.txt' })],
      ['move replacing a file', () => callTool(client, 'move', { from: 'b.txt', to: 'docs/a.txt', overwrite: true })],
      ['move a directory', () => callTool(client, 'move', { from: 'docs', to: 'archive' })],
      ['delete a file', () => callTool(client, 'delete', { path: 'archive/a.txt' })],
      ['make an empty directory', () => callTool(client, 'make_directory', { path: 'empty' })],
      ['delete an empty directory', () => callTool(client, 'delete', { path: 'empty' })],
      ['delete recursively', () => callTool(client, 'delete', { path: 'archive', recursive: true })],
      ['delete a file from before', () => callTool(client, 'delete', { path: 'old/seed.txt' })],
      ['delete the rest', () => callTool(client, 'delete', { path: 'old', recursive: true })],
    ];
    for (const [step, run] of steps) {
      const outcome = (await run()) as { isError?: boolean };
      expect(outcome.isError, step).toBeFalsy();
      expect({ step, counter: await probe.committed('acme') }).toEqual({ step, counter: await bytesOnDisk(root) });
      expect(await probe.inFlight('acme'), step).toEqual({ reserved: 0, changes: 0 });
    }
    expect(await bytesOnDisk(root)).toBe(5);
  });

  it('checks the quota in O(1): a tenant of 3,000 files is walked once, not once per write', async () => {
    const root = bed.tenantRoot('initech');
    for (let dir = 0; dir < 30; dir += 1) {
      await mkdir(join(root, `d${dir}`), { recursive: true });
      await Promise.all(
        Array.from({ length: 100 }, (_, file) => writeFile(join(root, `d${dir}`, `f${file}.txt`), 'i'.repeat(100))),
      );
    }
    const service = await bed.startServer({ REDIS_URL: redis.url, FILES_TENANT_QUOTA_BYTES: String(300_000 + 10_000) });
    const client = await bed.connect(service, 'initech');
    for (let i = 0; i < 20; i += 1) {
      resultOf(await callTool(client, 'write_file', { path: `new/${i}.txt`, content: 'n'.repeat(400) }));
    }
    const refused = errorOf(
      await callTool(client, 'write_file', { path: 'new/too-much.txt', content: 'n'.repeat(4000) }),
    );
    expect(refused.code).toBe('TOO_LARGE');
    expect(refused.message).toMatch(/quota/);
    // Every walk of the tree is counted: the one reconcile at first use, and no quota check by walking.
    expect(await metricValue(service.adminUrl, 'flotilla_files_usage_reconcile_total')).toBe(1);
    expect(
      await metricValue(service.adminUrl, 'flotilla_files_usage_reconcile_total', { outcome: 'initialized' }),
    ).toBe(1);
    expect(await metricValue(service.adminUrl, 'flotilla_files_quota_checks_total', { method: 'walk' })).toBe(0);
    expect(await metricValue(service.adminUrl, 'flotilla_files_quota_checks_total', { method: 'counter' })).toBe(21);
    expect(await probe.committed('initech')).toBe(300_000 + 20 * 400);
  });

  it('is corrected by the periodic reconcile when files change behind the server’s back', async () => {
    const service = await bed.startServer({ REDIS_URL: redis.url, FILES_USAGE_RECONCILE_MS: '200' });
    const client = await bed.connect(service, 'hooli');
    resultOf(await callTool(client, 'write_file', { path: 'kept.txt', content: 'k'.repeat(1000) }));
    expect(await probe.committed('hooli')).toBe(1000);
    const root = bed.tenantRoot('hooli');
    await writeFile(join(root, 'dropped-in.bin'), Buffer.alloc(5000));
    await truncate(join(root, 'kept.txt'), 10);
    await eventually(async () => (await probe.committed('hooli')) === 5010);
    expect(
      await metricValue(service.adminUrl, 'flotilla_files_usage_reconcile_total', { outcome: 'corrected' }),
    ).toBeGreaterThanOrEqual(1);
    expect(await metricValue(service.adminUrl, 'flotilla_files_usage_drift_bytes_total')).toBeGreaterThanOrEqual(4010);
  });
});

describe('RedisUsageStore', () => {
  it('applies a walk only when no change overlapped it, so a reservation in flight is never taken for drift', async () => {
    const store = new RedisUsageStore(redisClient(), 60_000);
    const tenant = 'store-overlap';
    expect(await store.reserve(tenant, 10, 100, false)).toEqual({ kind: 'uncounted' });
    expect(await store.apply(tenant, await store.generation(tenant), 50)).toEqual({ outcome: 'initialized', drift: 0 });

    const writing = await store.reserve(tenant, 30, 100, false);
    if (writing.kind !== 'reserved') throw new Error(`expected a reservation, got ${writing.kind}`);
    // A walk while the write is in flight may already see its 30 bytes: it must not be applied.
    const during = await store.generation(tenant);
    expect(await store.apply(tenant, during, 80)).toEqual({ outcome: 'busy', drift: 0 });
    await store.settle(writing.reservation, 30);
    expect(await probe.committed(tenant)).toBe(80);
    // Nor may a walk that started before the write ended.
    expect(await store.apply(tenant, during, 50)).toEqual({ outcome: 'busy', drift: 0 });
    expect(await store.apply(tenant, await store.generation(tenant), 80)).toEqual({ outcome: 'unchanged', drift: 0 });

    expect(await store.reserve(tenant, 21, 100, false)).toEqual({ kind: 'over', used: 80 });
    const fits = await store.reserve(tenant, 20, 100, false);
    expect(fits.kind).toBe('reserved');
    expect(await store.reserve(tenant, 1, 100, false)).toEqual({ kind: 'over', used: 100 });
    if (fits.kind === 'reserved') await store.settle(fits.reservation, 0);
    expect((await store.reserve(tenant, 20, 100, false)).kind).toBe('reserved');
  });

  it('lets a reservation leaked by a replica that died mid-change lapse within two windows', async () => {
    const store = new RedisUsageStore(redisClient(), 200);
    const tenant = 'store-leak';
    await store.apply(tenant, await store.generation(tenant), 0);
    expect((await store.reserve(tenant, 100, 100, false)).kind).toBe('reserved');
    expect(await store.reserve(tenant, 1, 100, false)).toEqual({ kind: 'over', used: 100 });
    expect((await store.apply(tenant, await store.generation(tenant), 0)).outcome).toBe('busy');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await store.apply(tenant, await store.generation(tenant), 0)).outcome).toBe('unchanged');
    expect((await store.reserve(tenant, 100, 100, false)).kind).toBe('reserved');
  });
});

describe('when Redis cannot keep the counter', () => {
  it('falls back to walking the tree with RATE_LIMIT_FAIL_MODE=open, refuses growth with closed, and deletes go on', async () => {
    // A user that may hold leases and rate limits but not the usage keys: Redis answers, the counter cannot.
    const admin = redisClient();
    await admin.call(
      'ACL',
      'SETUSER',
      'files-no-usage',
      'on',
      '>pw',
      'resetkeys',
      '~flotilla:files:lock:*',
      '~flotilla:files:rl:*',
      '+@all',
    );
    const url = `redis://files-no-usage:pw@${redis.host}:${redis.port}`;
    const open = await bed.startServer({ REDIS_URL: url, FILES_TENANT_QUOTA_BYTES: '5000' });
    const client = await bed.connect(open, 'globex');
    resultOf(await callTool(client, 'write_file', { path: 'one.txt', content: 'g'.repeat(3000) }));
    expect(errorOf(await callTool(client, 'write_file', { path: 'two.txt', content: 'g'.repeat(3000) })).code).toBe(
      'TOO_LARGE',
    );
    expect(await metricValue(open.adminUrl, 'flotilla_files_quota_checks_total', { method: 'walk' })).toBe(2);
    expect(await probe.committed('globex')).toBeUndefined();

    const closed = await bed.startServer({ REDIS_URL: url, RATE_LIMIT_FAIL_MODE: 'closed' });
    const strict = await bed.connect(closed, 'globex');
    const refused = errorOf(await callTool(strict, 'write_file', { path: 'three.txt', content: 'g' }));
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    resultOf(await callTool(strict, 'delete', { path: 'one.txt' }));
    expect(await bytesOnDisk(bed.tenantRoot('globex'))).toBe(0);
  });

  it('answers UNAVAILABLE while Redis is down, never crashes, and recounts the tenant once Redis is back empty', async () => {
    const outage = await startRedis();
    try {
      const service = await bed.startServer({ REDIS_URL: outage.url });
      const client = await bed.connect(service, 'acme_evil');
      resultOf(await callTool(client, 'write_file', { path: 'before.txt', content: 'b'.repeat(700) }));
      await outage.stop();
      const during = errorOf(await callTool(client, 'write_file', { path: 'during.txt', content: 'd' }));
      expect(during).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
      expect(resultOf(await callTool(client, 'read_file', { path: 'before.txt' }))).toMatchObject({ size: 700 });
      expect((await fetch(`${service.adminUrl}/livez`)).status).toBe(200);
      await outage.start();
      await eventually(
        async () => !(await callTool(client, 'write_file', { path: 'after.txt', content: 'a'.repeat(50) })).isError,
      );
      const recounted = new UsageProbe(redisClient(outage.url));
      expect(await recounted.committed('acme_evil')).toBe(750);
    } finally {
      await outage.destroy();
    }
  });
});

function edit(client: Client, path: string, oldText: string, newText: string) {
  return callTool(client, 'edit_file', { path, edits: [{ oldText, newText }] });
}
