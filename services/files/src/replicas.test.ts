import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisInstance, startRedis } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool, errorOf, type FilesTestBed, startFilesTestBed } from './testing/harness.js';

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
});
