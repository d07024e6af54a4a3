import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningService } from '@flotilla/runtime';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool, type FilesTestBed, snapshot, startFilesTestBed, type ToolOutcome } from './testing/harness.js';

let bed: FilesTestBed;
let service: RunningService;
let acme: Client;

/**
 * The tenant `acme` next to a tenant `acme_evil` (the CVE-2025-53110 shape: a prefix check lets
 * `/srv/acme_evil` pass for `/srv/acme`), and links planted on the volume by someone other than
 * the server, pointing out of the tree (the CVE-2025-53109 shape), at denied files, nowhere, or in a loop.
 */
async function plantLayout(): Promise<void> {
  const acmeRoot = bed.tenantRoot('acme');
  const evilRoot = bed.tenantRoot('acme_evil');
  await mkdir(join(acmeRoot, 'docs'), { recursive: true });
  await mkdir(join(acmeRoot, 'sub'), { recursive: true });
  await mkdir(join(acmeRoot, '.git'), { recursive: true });
  await mkdir(join(acmeRoot, '.ssh'), { recursive: true });
  await mkdir(evilRoot, { recursive: true });
  await writeFile(join(acmeRoot, 'docs/readme.md'), '# Acme\n');
  await writeFile(join(acmeRoot, 'sub/.env'), 'TOKEN=acme-env-secret\n');
  await writeFile(join(acmeRoot, '.git/config'), '[core]\n');
  // A nested repository (a vendored library, a submodule): its .git is denied wherever it is.
  await mkdir(join(acmeRoot, 'vendor/lib/.git'), { recursive: true });
  await writeFile(
    join(acmeRoot, 'vendor/lib/.git/config'),
    '[remote "origin"]\n\turl = https://token@example.com/lib\n',
  );
  await writeFile(join(acmeRoot, 'vendor/lib/readme.md'), '# lib\n');
  await writeFile(join(acmeRoot, '.ssh/id_rsa'), 'PRIVATE KEY\n');
  await writeFile(join(evilRoot, 'loot.txt'), 'acme_evil loot\n');
  await symlink('/etc/passwd', join(acmeRoot, 'link-passwd'));
  await symlink(join(bed.outside, 'secret.txt'), join(acmeRoot, 'link-secret'));
  await symlink(bed.outside, join(acmeRoot, 'link-out'));
  await symlink('../acme_evil/loot.txt', join(acmeRoot, 'evil'));
  await symlink('../acme_evil', join(acmeRoot, 'evil-dir'));
  await symlink(join(bed.outside, 'created-through-dangling-link.txt'), join(acmeRoot, 'dangling'));
  await symlink('.git/config', join(acmeRoot, 'link-to-git'));
  await symlink('loop2', join(acmeRoot, 'loop1'));
  await symlink('loop1', join(acmeRoot, 'loop2'));
}

beforeAll(async () => {
  bed = await startFilesTestBed();
  await plantLayout();
  service = await bed.startServer();
  acme = await bed.connect(service, 'acme');
});

afterAll(async () => {
  await bed?.stop();
});

const longName = 'n'.repeat(4096);
const longPath = 'd/'.repeat(2100);

/** [tool, arguments, what the case is]: every one must be refused with isError and touch nothing. */
const hostile: [string, Record<string, unknown>, string][] = [
  ['read_file', { path: '../outside/secret.txt' }, 'dot-dot out of the root'],
  ['read_file', { path: '../../../../../../etc/passwd' }, 'dot-dot to /etc/passwd'],
  ['read_file', { path: '/etc/passwd' }, 'absolute path'],
  ['read_file', { path: '~/secret.txt' }, 'home-relative path'],
  ['read_file', { path: 'docs/../../outside/secret.txt' }, 'dot-dot after a real directory'],
  ['read_file', { path: 'docs/./../../outside/secret.txt' }, 'dot and dot-dot mixed'],
  ['read_file', { path: '%2e%2e/outside/secret.txt' }, 'percent-encoded dot-dot'],
  ['read_file', { path: '%2E%2E%2Foutside%2Fsecret.txt' }, 'percent-encoded dots and slashes, upper case'],
  ['read_file', { path: '..%2foutside/secret.txt' }, 'encoded slash after dot-dot'],
  ['read_file', { path: '%c0%ae%c0%ae/outside/secret.txt' }, 'overlong UTF-8 dots'],
  ['read_file', { path: '..\\outside\\secret.txt' }, 'backslash dot-dot'],
  ['read_file', { path: 'docs\\..\\..\\outside\\secret.txt' }, 'backslash dot-dot after a directory'],
  ['read_file', { path: '\uff0e\uff0e/outside/secret.txt' }, 'fullwidth dots'],
  ['read_file', { path: '.\u0307./outside/secret.txt' }, 'dots with a combining mark'],
  ['read_file', { path: 'docs/readme.md\u0000.png' }, 'NUL byte'],
  ['read_file', { path: 'docs/\u001b[31mred' }, 'terminal escape'],
  ['read_file', { path: 'docs/\u0085next-line' }, 'C1 control character'],
  ['read_file', { path: 'link-passwd' }, 'link to /etc/passwd'],
  ['read_file', { path: 'link-secret' }, 'link to a file outside'],
  ['read_file', { path: 'link-out/secret.txt' }, 'through a directory link to outside'],
  ['read_file', { path: 'evil' }, 'CVE prefix shape: link into the sibling tenant acme_evil'],
  ['read_file', { path: 'evil-dir/loot.txt' }, 'CVE prefix shape: directory link into acme_evil'],
  ['read_file', { path: '../acme_evil/loot.txt' }, 'dot-dot into the sibling tenant'],
  ['read_file', { path: 'dangling' }, 'dangling link'],
  ['read_file', { path: 'loop1' }, 'link loop'],
  ['read_file', { path: '.git/config' }, 'deny-glob .git/**'],
  ['read_file', { path: 'vendor/lib/.git/config' }, 'deny-glob **/.git/**: a nested repository'],
  ['list_directory', { path: 'vendor/lib/.git' }, 'list a nested .git directory'],
  ['stat', { path: 'vendor/lib/.git' }, 'stat a nested .git directory'],
  ['write_file', { path: 'vendor/lib/.git/hooks/post-checkout', content: 'x' }, 'plant a hook in a nested repository'],
  ['write_file', { path: 'new/.git/config', content: 'x' }, 'create a new nested .git'],
  ['delete', { path: 'vendor/lib/.git', recursive: true }, 'delete a nested .git'],
  ['delete', { path: 'vendor', recursive: true }, 'delete a tree that holds a nested .git'],
  ['delete', { path: 'sub', recursive: true }, 'delete a directory that holds a denied .env'],
  ['move', { from: 'vendor/lib/.git', to: 'vendor/lib/git-copy' }, 'move a nested .git out of its name'],
  ['read_file', { path: 'sub/.env' }, 'deny-glob **/.env'],
  ['read_file', { path: '.ssh/id_rsa' }, 'deny-glob **/.ssh/**'],
  ['read_file', { path: 'link-to-git' }, 'link to a denied file'],
  ['read_file', { path: longName }, 'a name of 4 KiB'],
  ['read_file', { path: longPath }, 'a path over 4 KiB'],
  ['read_file', { path: '.flotilla-tmp-1234' }, 'the reserved temporary prefix'],
  ['stat', { path: 'link-passwd' }, 'stat through a link to /etc/passwd'],
  ['list_directory', { path: 'link-out' }, 'list a directory link to outside'],
  ['list_directory', { path: '.git' }, 'list a denied directory'],
  ['list_directory', { path: '..' }, 'list the parent of the root'],
  ['search_files', { path: 'link-out', glob: '**' }, 'search through a link to outside'],
  ['grep', { path: 'link-out', pattern: 'secret' }, 'grep through a link to outside'],
  ['grep', { path: 'evil-dir', pattern: 'loot' }, 'grep into the sibling tenant'],
  ['write_file', { path: '../outside/pwned.txt', content: 'x' }, 'write with dot-dot'],
  ['write_file', { path: '/tmp/pwned.txt', content: 'x' }, 'write to an absolute path'],
  ['write_file', { path: 'link-out/pwned.txt', content: 'x' }, 'write through a directory link'],
  ['write_file', { path: 'link-secret', content: 'x' }, 'write over a link to an outside file'],
  ['write_file', { path: 'dangling', content: 'x' }, 'write through a dangling link (would create its target)'],
  ['write_file', { path: 'evil', content: 'x' }, 'write through the CVE prefix link'],
  ['write_file', { path: '.git/config', content: 'x' }, 'write a denied file'],
  ['write_file', { path: '.git/hooks/pre-commit', content: 'x' }, 'create inside a denied directory'],
  ['write_file', { path: 'sub/.env', content: 'x' }, 'overwrite a denied .env'],
  ['write_file', { path: longName, content: 'x' }, 'write a name of 4 KiB'],
  ['write_file', { path: 'docs/a\u0000b', content: 'x' }, 'write a NUL name'],
  ['edit_file', { path: 'link-secret', edits: [{ oldText: 'outside', newText: 'pwned' }] }, 'edit through a link'],
  ['make_directory', { path: 'link-out/newdir' }, 'mkdir through a directory link'],
  ['make_directory', { path: '../outside/newdir' }, 'mkdir with dot-dot'],
  ['move', { from: 'docs/readme.md', to: '../outside/readme.md' }, 'move out of the root'],
  ['move', { from: '../outside/secret.txt', to: 'docs/stolen.txt' }, 'move into the root from outside'],
  ['move', { from: 'docs/readme.md', to: 'link-out/readme.md' }, 'move through a directory link'],
  ['move', { from: 'docs/readme.md', to: '.git/readme.md' }, 'move into a denied directory'],
  ['delete', { path: 'link-out/secret.txt' }, 'delete through a directory link'],
  ['delete', { path: '../outside', recursive: true }, 'delete outside the root'],
  ['delete', { path: '' }, 'delete the root itself'],
];

describe('hostile paths and link layouts', () => {
  it(`refuses all ${hostile.length} cases with isError, and nothing outside the tenant root is read, created or changed`, async () => {
    expect(hostile.length).toBeGreaterThanOrEqual(40);
    const volumeBefore = await snapshot(bed.root);
    const outsideBefore = await snapshot(bed.outside);
    const passwd = await readFile('/etc/passwd', 'utf8');
    const accepted: string[] = [];
    for (const [tool, args, what] of hostile) {
      const outcome = (await callTool(acme, tool, args)) as ToolOutcome;
      if (outcome.isError !== true) accepted.push(`${what}: ${JSON.stringify(outcome.structuredContent)}`);
      const shown = JSON.stringify(outcome);
      for (const secret of [
        'outside secret',
        'acme_evil loot',
        'acme-env-secret',
        'PRIVATE KEY',
        'token@example.com',
        passwd.slice(0, 20),
      ]) {
        expect(shown, `${what} leaked content`).not.toContain(secret);
      }
      expect(shown, `${what} leaked a host path`).not.toContain(bed.root);
    }
    expect(accepted).toEqual([]);
    expect(await snapshot(bed.outside)).toEqual(outsideBefore);
    expect(await snapshot(bed.root)).toEqual(volumeBefore);
  });

  it('hides a nested .git from listings, searches and greps by default', async () => {
    const listed = await callTool(acme, 'list_directory', { path: 'vendor/lib' });
    expect(listed.structuredContent?.entries).toEqual([{ name: 'readme.md', type: 'file' }]);
    const searched = await callTool(acme, 'search_files', { path: '', glob: '**/*' });
    expect(JSON.stringify(searched.structuredContent)).not.toContain('.git');
    const grepped = await callTool(acme, 'grep', { path: 'vendor', pattern: 'remote|url' });
    expect(grepped.structuredContent?.matches).toEqual([]);
  });

  it('refuses hostile resource URIs the same way', async () => {
    for (const uri of [
      'file:///link-secret',
      'file:///..%2f..%2foutside/secret.txt',
      'file:///%2e%2e/outside/secret.txt',
    ]) {
      await expect(acme.readResource({ uri }), uri).rejects.toThrow();
    }
  });

  it('reads the same file whichever Unicode form names it', async () => {
    const composed = 'caf\u00e9.md';
    await callTool(acme, 'write_file', { path: composed, content: 'menu\n' });
    const decomposed = await callTool(acme, 'read_file', { path: 'cafe\u0301.md' });
    expect(decomposed.isError).toBeFalsy();
    expect(decomposed.structuredContent?.content).toBe('menu\n');
    await callTool(acme, 'delete', { path: composed });
  });

  it('keeps reads and writes inside the root while a directory is swapped for a link to outside', async () => {
    const acmeRoot = bed.tenantRoot('acme');
    await mkdir(join(acmeRoot, 'race'));
    await writeFile(join(acmeRoot, 'race/x.txt'), 'inside\n');
    await symlink(bed.outside, join(acmeRoot, 'race-link'));
    const outsideBefore = await snapshot(bed.outside);
    let swapping = true;
    // Moves `from` into place as `to`; a `race` directory the server re-created in the gap is removed first
    // (the server may be writing into it meanwhile, so removing and renaming are retried, as `rm -rf` would be).
    const place = async (from: string, to: string) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await rename(join(acmeRoot, from), join(acmeRoot, to));
          return;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? '';
          if (!['EISDIR', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR'].includes(code) || attempt === 20) throw error;
          await rm(join(acmeRoot, to), { recursive: true, force: true, maxRetries: 50, retryDelay: 2 });
        }
      }
    };
    const swapper = (async () => {
      let swaps = 0;
      while (swapping) {
        await place('race', 'race-dir');
        await place('race-link', 'race');
        await place('race', 'race-link');
        await place('race-dir', 'race');
        swaps += 1;
      }
      return swaps;
    })();
    const outcomes: ToolOutcome[] = [];
    const deadline = Date.now() + 2000;
    try {
      while (Date.now() < deadline) {
        outcomes.push(
          ...(await Promise.all([
            callTool(acme, 'read_file', { path: 'race/secret.txt' }),
            callTool(acme, 'read_file', { path: 'race/x.txt' }),
            callTool(acme, 'write_file', { path: 'race/secret.txt', content: 'pwned' }),
            callTool(acme, 'write_file', { path: 'race/new.txt', content: 'written' }),
            callTool(acme, 'delete', { path: 'race/secret.txt' }),
          ])),
        );
      }
    } finally {
      swapping = false;
    }
    const swaps = await swapper;
    expect(swaps).toBeGreaterThan(10);
    expect(outcomes.length).toBeGreaterThan(50);
    for (const outcome of outcomes) expect(JSON.stringify(outcome)).not.toContain('outside secret');
    expect(await snapshot(bed.outside)).toEqual(outsideBefore);
    await rm(join(acmeRoot, 'race'), { recursive: true });
    await rm(join(acmeRoot, 'race-link'));
  });
});
