import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { callTool, errorOf, type FilesTestBed, resultOf, startFilesTestBed } from './testing/harness.js';

const MiB = 1024 * 1024;
let bed: FilesTestBed;
let acme: Client;
let globex: Client;

beforeAll(async () => {
  bed = await startFilesTestBed();
  const service = await bed.startServer({
    FILES_TENANT_QUOTA_BYTES: String(10_000),
    FILES_MAX_READ_BYTES: String(4 * MiB),
  });
  [acme, globex] = await Promise.all([bed.connect(service, 'acme'), bed.connect(service, 'globex')]);
  await callTool(acme, 'make_directory', { path: '' });
});

afterAll(async () => {
  await bed?.stop();
});

describe('a 200 MiB file', () => {
  it('serves 64 KiB ranges without reading the file into memory, and refuses a full read with TOO_LARGE', async () => {
    const path = join(bed.tenantRoot('acme'), 'big.log');
    onTestFinished(() => rm(path, { force: true }));
    const file = await open(path, 'w');
    // Real bytes at the start and in the middle; the rest is sparse but reads as 200 MiB like any file.
    await file.truncate(200 * MiB);
    await file.write(Buffer.from('start of the log\n'), 0, 17, 0);
    await file.write(Buffer.from('middle marker\n'), 0, 14, 100 * MiB);
    await file.close();
    expect((await stat(path)).size).toBe(200 * MiB);

    // The server as its own process, so its peak resident memory (VmHWM) is its alone.
    const server = await bed.spawnServer({ FILES_MAX_READ_BYTES: String(4 * MiB) });
    const client = await bed.connect(server, 'acme');
    const peakBefore = await peakResidentBytes(server.child.pid);
    for (let offset = 0; offset < 200 * MiB; offset += 5 * MiB) {
      const range = resultOf<{ length: number; offset: number }>(
        await callTool(client, 'read_file', { path: 'big.log', offset, length: 64 * 1024 }),
      );
      expect(range).toMatchObject({ offset, length: 64 * 1024 });
    }
    const middle = resultOf<{ content: string }>(
      await callTool(client, 'read_file', { path: 'big.log', offset: 100 * MiB, length: 14 }),
    );
    expect(middle.content).toBe('middle marker\n');
    const whole = errorOf(await callTool(client, 'read_file', { path: 'big.log' }));
    expect(whole.code).toBe('TOO_LARGE');
    expect(whole.message).toMatch(/offset and length/);
    expect(errorOf(await callTool(client, 'read_file', { path: 'big.log', offset: 0, length: 5 * MiB })).code).toBe(
      'TOO_LARGE',
    );
    // Reading the file once would lift the peak by 200 MiB; 40 ranges of 64 KiB leave it near where it was.
    const growth = (await peakResidentBytes(server.child.pid)) - peakBefore;
    expect(growth).toBeLessThan(40 * MiB);
  });
});

describe('a grep past the tool timeout', () => {
  it('answers TIMEOUT and stops searching, instead of burning CPU until the tree is done', async () => {
    const dir = join(bed.tenantRoot('acme'), 'logs');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await mkdir(dir);
    const line = `${'lorem ipsum dolor sit amet '.repeat(3)}\n`;
    const text = line.repeat(Math.ceil(MiB / line.length));
    // 40 MiB in one directory, and a linear pattern that costs ~16 µs a line: some 8 s of searching in all.
    await Promise.all(Array.from({ length: 40 }, (_, i) => writeFile(join(dir, `log-${i}.txt`), text)));
    const server = await bed.spawnServer({ TOOL_TIMEOUT_MS: '1000', FILES_GREP_TIME_BUDGET_MS: '120000' });
    const client = await bed.connect(server, 'acme');
    const slow = '(?i)(lorem|ipsum|dolor)\\s+\\w+\\s+\\w+\\s+zz';
    expect(errorOf(await callTool(client, 'grep', { path: 'logs', pattern: slow })).code).toBe('TIMEOUT');
    // One file may still be in hand (~0.2 s); a search that went on would use the next two seconds in full.
    const cpuAtAnswer = await cpuSeconds(server.child.pid);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await cpuSeconds(server.child.pid)) - cpuAtAnswer).toBeLessThan(0.6);
    await client.close();
  });
});

/** User plus system CPU time the process has used (/proc/<pid>/stat, in clock ticks of 1/100 s). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function peakResidentBytes(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  if (!kib) throw new Error('no VmHWM in /proc status');
  return Number(kib) * 1024;
}

describe('tenant quota', () => {
  it('refuses a write that would exceed the quota and leaves no partial file', async () => {
    resultOf(await callTool(acme, 'write_file', { path: 'a.bin', content: 'a'.repeat(6000) }));
    const refused = errorOf(await callTool(acme, 'write_file', { path: 'docs/b.bin', content: 'b'.repeat(6000) }));
    expect(refused.code).toBe('TOO_LARGE');
    expect(refused.message).toMatch(/quota/);
    const acmeRoot = bed.tenantRoot('acme');
    expect(await readdir(acmeRoot, { recursive: true })).not.toContain('docs/b.bin');
    expect((await readdir(acmeRoot, { recursive: true })).filter((name) => name.includes('.flotilla-tmp-'))).toEqual(
      [],
    );

    // Replacing a file counts only its growth; an edit that grows past the quota is refused too.
    resultOf(await callTool(acme, 'write_file', { path: 'a.bin', content: 'a'.repeat(9000) }));
    expect((await stat(join(acmeRoot, 'a.bin'))).size).toBe(9000);
    await callTool(acme, 'write_file', { path: 'small.txt', content: 'x' });
    const edit = errorOf(
      await callTool(acme, 'edit_file', { path: 'small.txt', edits: [{ oldText: 'x', newText: 'y'.repeat(2000) }] }),
    );
    expect(edit.code).toBe('TOO_LARGE');
    expect((await stat(join(acmeRoot, 'small.txt'))).size).toBe(1);

    // Another tenant's budget is its own.
    resultOf(await callTool(globex, 'write_file', { path: 'g.bin', content: 'g'.repeat(9000) }));
  });

  it('refuses content above FILES_MAX_WRITE_BYTES before touching the disk', async () => {
    const service = await bed.startServer({ FILES_MAX_WRITE_BYTES: '100' });
    const client = await bed.connect(service, 'acme');
    const refused = errorOf(await callTool(client, 'write_file', { path: 'too-big.txt', content: 'z'.repeat(101) }));
    expect(refused.code).toBe('TOO_LARGE');
    expect(await readdir(bed.tenantRoot('acme'))).not.toContain('too-big.txt');
  });
});
