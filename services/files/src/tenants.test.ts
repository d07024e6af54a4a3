import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantDirectoryName } from './sandbox.js';
import { callTool, errorOf, type FilesTestBed, resultOf, snapshot, startFilesTestBed } from './testing/harness.js';

let bed: FilesTestBed;
let acme: Client;
let globex: Client;

beforeAll(async () => {
  bed = await startFilesTestBed();
  const service = await bed.startServer();
  [acme, globex] = await Promise.all([bed.connect(service, 'acme'), bed.connect(service, 'globex')]);
  resultOf(await callTool(globex, 'write_file', { path: 'plans/secret.txt', content: 'globex plans' }));
  resultOf(await callTool(acme, 'write_file', { path: 'mine.txt', content: 'acme file' }));
  // A link someone planted in acme's tree, pointing into globex's.
  await symlink(join(bed.tenantRoot('globex'), 'plans'), join(bed.tenantRoot('acme'), 'to-globex'));
});

afterAll(async () => {
  await bed?.stop();
});

describe('two tenants on one volume', () => {
  it('each sees only its own tree, under the same paths', async () => {
    const acmeRoot = resultOf<{ entries: { name: string }[] }>(await callTool(acme, 'list_directory', { path: '' }));
    expect(acmeRoot.entries.map((entry) => entry.name).sort()).toEqual(['mine.txt', 'to-globex']);
    const globexRoot = resultOf<{ entries: { name: string }[] }>(
      await callTool(globex, 'list_directory', { path: '' }),
    );
    expect(globexRoot.entries.map((entry) => entry.name)).toEqual(['plans']);
    expect(errorOf(await callTool(acme, 'read_file', { path: 'plans/secret.txt' })).code).toBe('NOT_FOUND');
    const hits = resultOf<{ matches: unknown[] }>(await callTool(acme, 'grep', { path: '', pattern: 'globex' }));
    expect(hits.matches).toEqual([]);
  });

  it('neither can list, read, write, move into or out of the other tree', async () => {
    const globexBefore = await snapshot(bed.tenantRoot('globex'));
    const attempts: [string, Record<string, unknown>][] = [
      ['list_directory', { path: '../globex' }],
      ['list_directory', { path: 'to-globex' }],
      ['read_file', { path: '../globex/plans/secret.txt' }],
      ['read_file', { path: 'to-globex/secret.txt' }],
      ['stat', { path: 'to-globex/secret.txt' }],
      ['search_files', { path: 'to-globex', glob: '**' }],
      ['write_file', { path: '../globex/plans/secret.txt', content: 'overwritten' }],
      ['write_file', { path: 'to-globex/secret.txt', content: 'overwritten' }],
      ['write_file', { path: 'to-globex/new.txt', content: 'planted' }],
      ['edit_file', { path: 'to-globex/secret.txt', edits: [{ oldText: 'globex', newText: 'acme' }] }],
      ['move', { from: 'mine.txt', to: '../globex/mine.txt' }],
      ['move', { from: 'mine.txt', to: 'to-globex/mine.txt' }],
      ['move', { from: '../globex/plans/secret.txt', to: 'stolen.txt' }],
      ['move', { from: 'to-globex/secret.txt', to: 'stolen.txt' }],
      ['delete', { path: 'to-globex/secret.txt' }],
      ['delete', { path: '../globex', recursive: true }],
    ];
    for (const [tool, args] of attempts) {
      const outcome = await callTool(acme, tool, args);
      expect(outcome.isError, `${tool} ${JSON.stringify(args)}`).toBe(true);
      expect(JSON.stringify(outcome)).not.toContain('globex plans');
    }
    expect(await snapshot(bed.tenantRoot('globex'))).toEqual(globexBefore);
    expect(await readFile(join(bed.tenantRoot('acme'), 'mine.txt'), 'utf8')).toBe('acme file');
  });

  it('gives a tenant whose name is not a plain directory name a digest directory, never a path', async () => {
    expect(tenantDirectoryName('acme')).toBe('acme');
    for (const hostile of ['../globex', 'globex/..', '.', '..', '', 'a/b', '.hidden', 'x'.repeat(100)]) {
      const name = tenantDirectoryName(hostile);
      expect(name).toMatch(/^sha256-[0-9a-f]{64}$/);
    }
  });

  it('keeps identical paths of two tenants apart on disk', async () => {
    await mkdir(bed.tenantRoot('acme'), { recursive: true });
    resultOf(await callTool(acme, 'write_file', { path: 'same.txt', content: 'acme version' }));
    resultOf(await callTool(globex, 'write_file', { path: 'same.txt', content: 'globex version' }));
    expect(await readFile(join(bed.tenantRoot('acme'), 'same.txt'), 'utf8')).toBe('acme version');
    expect(await readFile(join(bed.tenantRoot('globex'), 'same.txt'), 'utf8')).toBe('globex version');
    await writeFile(join(bed.tenantRoot('acme'), 'same.txt'), 'acme version 2');
    const read = resultOf<{ content: string }>(await callTool(globex, 'read_file', { path: 'same.txt' }));
    expect(read.content).toBe('globex version');
  });
});
