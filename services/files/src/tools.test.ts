import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningService } from '@flotilla/runtime';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool, errorOf, type FilesTestBed, resultOf, startFilesTestBed } from './testing/harness.js';

let bed: FilesTestBed;
let service: RunningService;
let acme: Client;
let root: string;
const logLines: Record<string, unknown>[] = [];

type Listing = {
  entries: { name: string; type: string; size?: number | null; modifiedAt?: string | null }[];
  nextCursor: string | null;
};
type Read = { content: string; encoding: string; mimeType: string; etag: string; length: number; eof: boolean };

beforeAll(async () => {
  bed = await startFilesTestBed();
  service = await bed.startServer(
    { LOG_LEVEL: 'info', FILES_MAX_READ_BYTES: String(64 * 1024) },
    { write: (line) => logLines.push(JSON.parse(line)) },
  );
  acme = await bed.connect(service, 'acme');
  root = bed.tenantRoot('acme');
  await callTool(acme, 'make_directory', { path: '' });
});

afterAll(async () => {
  await bed?.stop();
});

describe('reading', () => {
  it('lists a directory in pages that together hold every entry once, in name order', async () => {
    await mkdir(join(root, 'many'), { recursive: true });
    const names = Array.from({ length: 25 }, (_, i) => `file-${String(i).padStart(2, '0')}.txt`);
    await Promise.all(names.map((name) => writeFile(join(root, 'many', name), name)));
    await mkdir(join(root, 'many', 'zz-sub'));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = resultOf<Listing>(await callTool(acme, 'list_directory', { path: 'many', limit: 10, cursor }));
      seen.push(...page.entries.map((entry) => entry.name));
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...names, 'zz-sub']);
    const first = resultOf<Listing>(await callTool(acme, 'list_directory', { path: 'many', limit: 1 }));
    expect(first.entries[0]).toEqual({ name: 'file-00.txt', type: 'file' });
    const detailed = resultOf<Listing>(
      await callTool(acme, 'list_directory', { path: 'many', limit: 1, details: true }),
    );
    expect(detailed.entries[0]).toMatchObject({ name: 'file-00.txt', type: 'file', size: 11 });
    expect(Date.parse(detailed.entries[0]?.modifiedAt ?? '')).toBeGreaterThan(0);
    expect(errorOf(await callTool(acme, 'list_directory', { path: 'many', cursor: 'not-ours' })).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('reads text as text and binary as a base64 blob with its MIME type, with ranges', async () => {
    await writeFile(join(root, 'hello.md'), '# Hello\nworld\n');
    const text = resultOf<Read>(await callTool(acme, 'read_file', { path: 'hello.md' }));
    expect(text).toMatchObject({ content: '# Hello\nworld\n', encoding: 'utf8', mimeType: 'text/markdown', eof: true });
    const range = resultOf<Read>(await callTool(acme, 'read_file', { path: 'hello.md', offset: 2, length: 5 }));
    expect(range).toMatchObject({ content: 'Hello', length: 5, eof: false });

    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    await writeFile(join(root, 'pixel.png'), png);
    const outcome = await callTool(acme, 'read_file', { path: 'pixel.png' });
    const binary = resultOf<Read>(outcome);
    expect(binary).toMatchObject({ encoding: 'base64', mimeType: 'image/png', content: png.toString('base64') });
    expect(outcome.content?.[1]).toMatchObject({
      type: 'resource',
      resource: { uri: 'file:///pixel.png', mimeType: 'image/png', blob: png.toString('base64') },
    });
  });

  it('never splits a UTF-8 character at the end of a range', async () => {
    await writeFile(join(root, 'accents.txt'), 'ééé');
    const cut = resultOf<Read>(await callTool(acme, 'read_file', { path: 'accents.txt', offset: 0, length: 3 }));
    expect(cut).toMatchObject({ content: 'é', length: 2, encoding: 'utf8' });
  });

  it('stat gives the etag a later read returns, and the file resource reads the same content', async () => {
    const info = resultOf<{ etag: string; size: number; type: string }>(
      await callTool(acme, 'stat', { path: 'hello.md' }),
    );
    expect(info).toMatchObject({ size: 14, type: 'file' });
    const read = resultOf<Read>(await callTool(acme, 'read_file', { path: 'hello.md' }));
    expect(read.etag).toBe(info.etag);
    const resource = await acme.readResource({ uri: 'file:///hello.md' });
    expect(resource.contents[0]).toMatchObject({ text: '# Hello\nworld\n', mimeType: 'text/markdown' });
    const blob = await acme.readResource({ uri: 'file:///pixel.png' });
    expect(blob.contents[0]).toMatchObject({ mimeType: 'image/png' });
    expect((blob.contents[0] as { blob: string }).blob.length).toBeGreaterThan(0);
  });

  it('finds files by glob and lines by linear-time regular expression, skipping binaries and denied files', async () => {
    await mkdir(join(root, 'src/lib'), { recursive: true });
    await writeFile(join(root, 'src/a.ts'), 'export const alpha = 1;\n// TODO: beta\n');
    await writeFile(join(root, 'src/lib/b.ts'), 'const gamma = 3; // todo later\n');
    await writeFile(join(root, 'src/lib/c.md'), 'TODO in markdown\n');
    await writeFile(join(root, 'src/.env'), 'TODO=secret\n');
    await writeFile(join(root, 'src/blob.bin'), Buffer.from([0, 1, 2, 84, 79, 68, 79]));
    const found = resultOf<{ matches: { path: string }[] }>(
      await callTool(acme, 'search_files', { path: 'src', glob: '**/*.ts' }),
    );
    expect(found.matches.map((match) => match.path)).toEqual(['src/a.ts', 'src/lib/b.ts']);

    const grep = resultOf<{ matches: { path: string; line: number; text: string }[]; filesSkipped: number }>(
      await callTool(acme, 'grep', { path: 'src', pattern: '(?i)todo' }),
    );
    expect(grep.matches).toEqual([
      { path: 'src/a.ts', line: 2, text: '// TODO: beta' },
      { path: 'src/lib/b.ts', line: 1, text: 'const gamma = 3; // todo later' },
      { path: 'src/lib/c.md', line: 1, text: 'TODO in markdown' },
    ]);
    expect(grep.filesSkipped).toBe(1);
    const onlyTs = resultOf<{ matches: unknown[] }>(
      await callTool(acme, 'grep', { path: 'src', pattern: 'TODO', glob: '**/*.ts' }),
    );
    expect(onlyTs.matches).toHaveLength(1);
    expect(errorOf(await callTool(acme, 'grep', { path: 'src', pattern: '(a)\\1' })).code).toBe('INVALID_ARGUMENT');
  });

  it('grep stops at the match cap and says so; a catastrophic-backtracking pattern runs in linear time', async () => {
    await writeFile(join(root, 'many-lines.txt'), 'match\n'.repeat(500));
    const capped = resultOf<{ matches: unknown[]; truncated: boolean }>(
      await callTool(acme, 'grep', { path: 'many-lines.txt', pattern: 'match' }),
    );
    expect(capped.matches).toHaveLength(200);
    expect(capped.truncated).toBe(true);
    await writeFile(join(root, 'redos.txt'), `${'a'.repeat(30_000)}!\n`);
    const started = performance.now();
    const redos = resultOf<{ matches: unknown[] }>(
      await callTool(acme, 'grep', { path: 'redos.txt', pattern: '^(a+)+$' }),
    );
    expect(redos.matches).toHaveLength(0);
    // A backtracking engine needs 2^30000 steps here; RE2 answers in well under the tool time limit.
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe('writing', () => {
  it('writes atomically, creating parents, and leaves no temporary behind', async () => {
    const written = resultOf<{ etag: string; created: boolean; size: number }>(
      await callTool(acme, 'write_file', { path: 'new/dir/note.txt', content: 'first' }),
    );
    expect(written).toMatchObject({ created: true, size: 5 });
    expect(await readFile(join(root, 'new/dir/note.txt'), 'utf8')).toBe('first');
    expect((await readdir(join(root, 'new/dir'))).sort()).toEqual(['note.txt']);
    const binary = Buffer.from([0, 255, 1, 254]);
    resultOf(
      await callTool(acme, 'write_file', { path: 'bytes.bin', content: binary.toString('base64'), encoding: 'base64' }),
    );
    expect(await readFile(join(root, 'bytes.bin'))).toEqual(binary);
    expect(
      errorOf(await callTool(acme, 'write_file', { path: 'bad.bin', content: 'not base64!', encoding: 'base64' })).code,
    ).toBe('INVALID_ARGUMENT');
  });

  it('ifMatch makes a write conditional and createOnly never replaces', async () => {
    const first = resultOf<{ etag: string }>(await callTool(acme, 'write_file', { path: 'cond.txt', content: 'v1' }));
    const second = resultOf<{ etag: string }>(
      await callTool(acme, 'write_file', { path: 'cond.txt', content: 'v2', ifMatch: first.etag }),
    );
    expect(second.etag).not.toBe(first.etag);
    const stale = errorOf(await callTool(acme, 'write_file', { path: 'cond.txt', content: 'v3', ifMatch: first.etag }));
    expect(stale.code).toBe('PRECONDITION_FAILED');
    expect(stale.message).toContain(second.etag);
    expect(await readFile(join(root, 'cond.txt'), 'utf8')).toBe('v2');
    expect(errorOf(await callTool(acme, 'write_file', { path: 'cond.txt', content: 'x', createOnly: true })).code).toBe(
      'CONFLICT',
    );
    expect(
      errorOf(await callTool(acme, 'write_file', { path: 'missing.txt', content: 'x', ifMatch: first.etag })).code,
    ).toBe('PRECONDITION_FAILED');
  });

  it('edit_file returns a unified diff, honours dryRun, and refuses ambiguous or missing text', async () => {
    await writeFile(join(root, 'plan.md'), 'one\ntwo\nthree\n');
    const dry = resultOf<{ diff: string; dryRun: boolean }>(
      await callTool(acme, 'edit_file', { path: 'plan.md', edits: [{ oldText: 'two', newText: 'TWO' }], dryRun: true }),
    );
    expect(dry.dryRun).toBe(true);
    expect(dry.diff).toContain('-two\n+TWO');
    expect(await readFile(join(root, 'plan.md'), 'utf8')).toBe('one\ntwo\nthree\n');
    const applied = resultOf<{ diff: string; etag: string }>(
      await callTool(acme, 'edit_file', {
        path: 'plan.md',
        edits: [
          { oldText: 'two', newText: 'TWO' },
          { oldText: 'TWO\nthree', newText: 'TWO\n3' },
        ],
      }),
    );
    expect(applied.diff).toContain('--- a/plan.md');
    expect(await readFile(join(root, 'plan.md'), 'utf8')).toBe('one\nTWO\n3\n');
    await writeFile(join(root, 'dup.md'), 'x\nx\n');
    expect(
      errorOf(await callTool(acme, 'edit_file', { path: 'dup.md', edits: [{ oldText: 'x', newText: 'y' }] })).code,
    ).toBe('INVALID_ARGUMENT');
    expect(
      errorOf(await callTool(acme, 'edit_file', { path: 'plan.md', edits: [{ oldText: 'absent', newText: 'y' }] }))
        .code,
    ).toBe('PRECONDITION_FAILED');
    expect(await readFile(join(root, 'dup.md'), 'utf8')).toBe('x\nx\n');
  });

  it('moves and deletes, refusing to replace or to delete a non-empty directory unless told to', async () => {
    await writeFile(join(root, 'm1.txt'), 'one');
    await writeFile(join(root, 'm2.txt'), 'two');
    expect(errorOf(await callTool(acme, 'move', { from: 'm1.txt', to: 'm2.txt' })).code).toBe('CONFLICT');
    resultOf(await callTool(acme, 'move', { from: 'm1.txt', to: 'm2.txt', overwrite: true }));
    expect(await readFile(join(root, 'm2.txt'), 'utf8')).toBe('one');
    resultOf(await callTool(acme, 'move', { from: 'm2.txt', to: 'archive/2026/m.txt' }));
    expect(await readFile(join(root, 'archive/2026/m.txt'), 'utf8')).toBe('one');
    expect(errorOf(await callTool(acme, 'move', { from: 'archive', to: 'archive/inner' })).code).toBe(
      'INVALID_ARGUMENT',
    );

    expect(errorOf(await callTool(acme, 'delete', { path: 'archive' })).code).toBe('PRECONDITION_FAILED');
    resultOf(await callTool(acme, 'delete', { path: 'archive', recursive: true }));
    await expect(stat(join(root, 'archive'))).rejects.toThrow();
    expect(errorOf(await callTool(acme, 'delete', { path: 'archive' })).code).toBe('NOT_FOUND');
  });

  it('deleting a link removes the link, never its target', async () => {
    await writeFile(join(bed.outside, 'kept.txt'), 'kept');
    await symlink(join(bed.outside, 'kept.txt'), join(root, 'to-kept'));
    expect(resultOf<{ type: string }>(await callTool(acme, 'delete', { path: 'to-kept' })).type).toBe('symlink');
    expect(await readFile(join(bed.outside, 'kept.txt'), 'utf8')).toBe('kept');
  });

  it('make_directory is idempotent', async () => {
    expect(resultOf<{ created: boolean }>(await callTool(acme, 'make_directory', { path: 'a/b/c' })).created).toBe(
      true,
    );
    expect(resultOf<{ created: boolean }>(await callTool(acme, 'make_directory', { path: 'a/b/c' })).created).toBe(
      false,
    );
  });
});

describe('scopes, probes, metrics and audit', () => {
  it('hides and refuses what a caller lacks the scope for', async () => {
    const reader = await bed.connect(service, 'acme', ['files:read']);
    const writer = await bed.connect(service, 'acme', ['files:read', 'files:write']);
    const readerTools = (await reader.listTools()).tools.map((tool) => tool.name).sort();
    expect(readerTools).toEqual(['grep', 'list_directory', 'read_file', 'search_files', 'stat']);
    expect((await writer.listTools()).tools.map((tool) => tool.name)).not.toContain('delete');
    await writeFile(join(root, 'keep.txt'), 'keep');
    // A missing scope is an HTTP 403 with error="insufficient_scope" (SPEC §4), which the client raises.
    await expect(callTool(writer, 'delete', { path: 'keep.txt' })).rejects.toThrow(/files:delete/);
    await expect(callTool(reader, 'write_file', { path: 'keep.txt', content: 'x' })).rejects.toThrow(/files:write/);
    expect(await readFile(join(root, 'keep.txt'), 'utf8')).toBe('keep');
  });

  it('keeps every tool schema in a reviewed snapshot, so a schema change shows up in review', async () => {
    const { tools } = await acme.listTools();
    await expect(`${JSON.stringify(tools, null, 2)}\n`).toMatchFileSnapshot('./__snapshots__/tools-list.json');
  });

  it('declares truthful annotations', async () => {
    const tools = Object.fromEntries((await acme.listTools()).tools.map((tool) => [tool.name, tool.annotations]));
    for (const name of ['list_directory', 'stat', 'read_file', 'search_files', 'grep']) {
      expect(tools[name]).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    }
    for (const name of ['write_file', 'edit_file', 'move', 'delete']) {
      expect(tools[name]).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    }
    expect(tools.make_directory).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: true });
  });

  it('is ready while the volume is writable, and counts bytes and refusals by reason', async () => {
    const ready = await fetch(`${service.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ dependencies: { volume: { status: 'up' } } });
    await callTool(acme, 'read_file', { path: '../escape' });
    await callTool(acme, 'read_file', { path: '.git/config' });
    const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/flotilla_files_refusals_total\{reason="invalid_path"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/flotilla_files_refusals_total\{reason="denied"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/flotilla_files_bytes_read_total(\{[^}]*\})? [1-9]/);
    expect(metrics).toMatch(/flotilla_files_bytes_written_total(\{[^}]*\})? [1-9]/);
  });

  it('audits each call with a digest of its path, never the path', async () => {
    await writeFile(join(root, 'audited.md'), 'audited');
    await callTool(acme, 'stat', { path: 'audited.md' });
    const audit = logLines.filter((line) => line.event === 'audit' && line.tool === 'stat').at(-1);
    expect(audit).toMatchObject({ tenant: 'acme', outcome: 'success' });
    expect(audit?.pathSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(logLines)).not.toContain('audited.md');
  });
});
