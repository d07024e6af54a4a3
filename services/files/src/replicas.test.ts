import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisInstance, startRedis } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool, errorOf, type FilesTestBed, startFilesTestBed } from './testing/harness.js';
import { addFilesRedisUser, bytesOnDisk, UsageProbe } from './testing/usage.js';

let bed: FilesTestBed;
let redis: RedisInstance;

beforeAll(async () => {
  [bed, redis] = await Promise.all([startFilesTestBed(), startRedis()]);
});

afterAll(async () => {
  await bed?.stop();
  await redis?.stop();
});

describe('two replicas on one volume and one Redis', () => {
  it('50 concurrent edit_file calls on one file lose no update: the file holds exactly the edits that succeeded', async () => {
    const replicas = await Promise.all([
      bed.startServer({ REDIS_URL: redis.url }),
      bed.startServer({ REDIS_URL: redis.url }),
    ]);
    const [one, two] = await Promise.all(replicas.map((replica) => bed.connect(replica, 'acme')));
    const spread = (i: number) => (i % 2 === 0 ? one : two) as Client;
    const slots = Array.from({ length: 50 }, (_, i) => `slot-${String(i).padStart(2, '0')}`);
    const path = join(bed.tenantRoot('acme'), 'shared.txt');
    await callTool(spread(0), 'make_directory', { path: '' });
    await writeFile(path, slots.map((slot) => `${slot}: empty\n`).join(''));

    const outcomes = await Promise.all(
      slots.map((slot, i) =>
        callTool(spread(i), 'edit_file', {
          path: 'shared.txt',
          edits: [{ oldText: `${slot}: empty`, newText: `${slot}: edited by call ${i}` }],
        }),
      ),
    );

    const succeeded = slots.filter((_, i) => !outcomes[i]?.isError);
    const failed = outcomes.filter((outcome) => outcome.isError);
    for (const outcome of failed) {
      expect(errorOf(outcome).code).toBe('CONFLICT');
    }
    expect(succeeded.length).toBeGreaterThan(0);
    const final = await readFile(path, 'utf8');
    const edited = final
      .split('\n')
      .filter((line) => line.includes('edited by call'))
      .map((line) => line.split(':')[0]);
    expect(edited.sort()).toEqual(succeeded.sort());
    expect(final.split('\n').filter(Boolean)).toHaveLength(50);
  });

  it('a short lock wait turns contention into CONFLICT answers, still with no lost update', async () => {
    const replicas = await Promise.all([
      bed.startServer({ REDIS_URL: redis.url, FILES_LOCK_WAIT_MS: '0' }),
      bed.startServer({ REDIS_URL: redis.url, FILES_LOCK_WAIT_MS: '0' }),
    ]);
    const [one, two] = await Promise.all(replicas.map((replica) => bed.connect(replica, 'acme')));
    const spread = (i: number) => (i % 2 === 0 ? one : two) as Client;
    const path = join(bed.tenantRoot('acme'), 'contended.txt');
    const slots = Array.from({ length: 30 }, (_, i) => `line-${i}`);
    await writeFile(path, slots.map((slot) => `${slot}\n`).join(''));
    const outcomes = await Promise.all(
      slots.map((slot, i) =>
        callTool(spread(i), 'edit_file', {
          path: 'contended.txt',
          edits: [{ oldText: `${slot}\n`, newText: `${slot} done\n` }],
        }),
      ),
    );
    const codes = outcomes.map((outcome) => (outcome.isError ? errorOf(outcome).code : 'ok'));
    expect(codes).toContain('CONFLICT');
    expect(new Set(codes)).toEqual(new Set(['ok', 'CONFLICT']));
    const done = (await readFile(path, 'utf8')).split('\n').filter((line) => line.endsWith(' done'));
    expect(done).toHaveLength(codes.filter((code) => code === 'ok').length);
  });

  it('100 concurrent writes over both replicas never take a tenant past its quota, and the counter equals a walk', async () => {
    const quota = 60_000;
    const maxWrite = 4000;
    // As production runs it: the files server's own Redis user from k8s/redis/users.acl.
    const asFilesUser = await addFilesRedisUser(redis, 'files-test-pw');
    const env = {
      REDIS_URL: asFilesUser,
      FILES_TENANT_QUOTA_BYTES: String(quota),
      FILES_MAX_WRITE_BYTES: String(maxWrite),
    };
    const replicas = await Promise.all([bed.startServer(env), bed.startServer(env)]);
    const [one, two] = await Promise.all(replicas.map((replica) => bed.connect(replica, 'globex')));
    const spread = (i: number) => (i % 2 === 0 ? one : two) as Client;
    const admin = new Redis(redis.url);
    const probe = new UsageProbe(admin);
    const root = bed.tenantRoot('globex');
    // Sizes from 1,000 to 4,000 bytes in a fixed scatter: 100 writes ask for about four times the quota.
    const size = (i: number) => 1000 + ((i * 7919) % (maxWrite - 999));
    try {
      const first = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          callTool(spread(i), 'write_file', { path: `w/${i}.bin`, content: 'q'.repeat(size(i)) }),
        ),
      );
      const refused = first.filter((outcome) => outcome.isError).map((outcome) => errorOf(outcome).code);
      expect(new Set(refused)).toEqual(new Set(['TOO_LARGE']));
      expect(refused.length).toBeLessThan(100);
      const used = await bytesOnDisk(root);
      expect(used).toBeLessThanOrEqual(quota);
      expect(used).toBeGreaterThan(quota - maxWrite);
      expect(await probe.committed('globex')).toBe(used);

      // Overwrites (growing and shrinking), deletes and new files, all at once.
      const second = await Promise.all(
        Array.from({ length: 100 }, (_, i) => {
          if (i % 3 === 0) return callTool(spread(i), 'delete', { path: `w/${i}.bin` });
          const content = 'r'.repeat(size(i + 50));
          return callTool(spread(i), 'write_file', { path: i % 3 === 1 ? `w/${i}.bin` : `x/${i}.bin`, content });
        }),
      );
      for (const outcome of second.filter((result) => result.isError)) {
        expect(['TOO_LARGE', 'NOT_FOUND']).toContain(errorOf(outcome).code);
      }
      expect(await bytesOnDisk(root)).toBeLessThanOrEqual(quota);
      expect(await probe.committed('globex')).toBe(await bytesOnDisk(root));
      expect(await probe.inFlight('globex')).toEqual({ reserved: 0, changes: 0 });
    } finally {
      admin.disconnect();
    }
  });
});
