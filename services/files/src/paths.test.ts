import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DENY_GLOBS } from './config.js';
import { DenyList, isInside, PathRefusal, parseWorkspacePath } from './paths.js';

function refusal(raw: string): PathRefusal {
  try {
    parseWorkspacePath(raw);
  } catch (error) {
    if (error instanceof PathRefusal) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(raw)} was accepted`);
}

describe('parseWorkspacePath', () => {
  it.each([
    ['', ''],
    ['.', ''],
    ['docs', 'docs'],
    ['docs/', 'docs'],
    ['./docs//plan.md', 'docs/plan.md'],
    ['a/./b/./c', 'a/b/c'],
    ['100% done.txt', '100% done.txt'],
    ['%41.txt', '%41.txt'],
    ['....', '....'],
    ['..hidden', '..hidden'],
    ['notes..md', 'notes..md'],
    ['emoji 🚀.md', 'emoji 🚀.md'],
  ])('accepts %j as %j', (raw, relative) => {
    expect(parseWorkspacePath(raw).relative).toBe(relative);
  });

  it('normalises Unicode to NFC, so both spellings of é name one file', () => {
    expect(parseWorkspacePath('cafe\u0301.md').relative).toBe('caf\u00e9.md');
    expect(parseWorkspacePath('caf\u00e9.md').relative).toBe('caf\u00e9.md');
  });

  it.each([
    ['..', 'contains ..'],
    ['../x', 'contains ..'],
    ['a/../../x', 'contains ..'],
    ['a/..', 'contains ..'],
    ['/etc/passwd', 'absolute'],
    ['//server/share', 'absolute'],
    ['~/x', 'absolute'],
    ['~root/x', 'absolute'],
    ['a\\..\\b', 'backslash'],
    ['a\u0000b', 'NUL'],
    ['a\nb', 'control'],
    ['a\rb', 'control'],
    ['a\tb', 'control'],
    ['a\u007fb', 'control'],
    ['a\u009bb', 'control'],
    ['%2e%2e/x', 'percent-encoded'],
    ['%2E%2e/x', 'percent-encoded'],
    ['a%2fb', 'percent-encoded'],
    ['a%5Cb', 'percent-encoded'],
    ['a%00b', 'percent-encoded'],
    ['n'.repeat(256), 'longer than 255'],
    ['é'.repeat(128), 'longer than 255'],
    [`${'d/'.repeat(2048)}x`, 'longer than 4096'],
    ['.flotilla-tmp-123', 'reserved'],
    ['docs/.flotilla-tmp-x', 'reserved'],
  ])('refuses %j (%s)', (raw, why) => {
    const error = refusal(raw);
    expect(error.reason).toBe('invalid_path');
    expect(error.message).toContain(why);
  });

  it('accepts a name of exactly 255 bytes and refuses 256', () => {
    expect(parseWorkspacePath('n'.repeat(255)).segments).toHaveLength(1);
    expect(refusal('n'.repeat(256)).reason).toBe('invalid_path');
  });
});

/** The deny list's verdict on each path is picomatch's; more than `denied` of them are denied, so both kinds are tested. */
function expectPicomatchVerdicts(globs: string[], paths: string[], denied: number): void {
  const reference = picomatch(globs, { dot: true });
  const deny = new DenyList(globs);
  for (const path of paths) expect(deny.isDeniedEntry('', path), path).toBe(reference(path));
  expect(paths.filter((path) => reference(path)).length).toBeGreaterThan(denied);
}

describe('DenyList', () => {
  const deny = new DenyList(DEFAULT_DENY_GLOBS);

  it.each([
    '.git',
    '.git/config',
    '.git/hooks/pre-commit',
    'sub/.git',
    'sub/.git/config',
    'vendor/lib/.git/objects/ab/cdef',
    'a/b/c/d/.git/HEAD',
    '.env',
    'app/.env',
    'a/b/c/.env',
    '.ssh',
    '.ssh/id_rsa',
    'home/.ssh/authorized_keys',
    '.env/inside',
  ])('denies %j', (path) => {
    expect(deny.isDenied(path)).toBe(true);
  });

  it.each([
    '',
    'docs',
    '.gitignore',
    '.gitmodules',
    'sub/.gitignore',
    '.github/workflows/ci.yml',
    'a/.git-credentials-helper.md',
    'git/config',
    'app/.envrc',
    'env',
    'my.ssh/key',
  ])('allows %j', (path) => {
    expect(deny.isDenied(path)).toBe(false);
  });

  it('denies nothing when configured with no globs', () => {
    expect(new DenyList([]).isDenied('.git/config')).toBe(false);
  });

  it("gives picomatch's own verdict for operator globs of every kind", () => {
    const globs = [
      '**/.git/**',
      '**/*.pem',
      'secrets/**',
      'build/[ab]?.log',
      '**/{tmp,cache}',
      'notes(1).txt',
      '!(x)y',
    ];
    const paths = [
      'notes(1).txt',
      'notes1.txt',
      'a/key.pem',
      'key.pem',
      'a/.key.pem',
      'secrets',
      'secrets/a/b',
      'build/a1.log',
      'build/c1.log',
      'x/tmp',
      'cache',
      'zy',
      'xy',
      'y',
      '.git/HEAD',
      'docs/readme.md',
    ];
    expectPicomatchVerdicts(globs, paths, 5);
  });

  it("keeps picomatch's verdict when every glob has a plain segment to screen by", () => {
    // Globs of only wildcards and plain segments: the deny list rules paths out by substring first.
    const globs = ['**/.git/**', '**/.env', 'secrets/**', 'a/*/node_modules/**', '*/cache'];
    const paths = [
      '.git',
      '.git/HEAD',
      'x/.git',
      'my.git/x',
      '.gitignore',
      '.env',
      'x.env',
      '.envrc',
      'b/.env',
      'secrets',
      'secrets/key',
      'notsecrets/key',
      'a/b/node_modules/x',
      'a/node_modules/x',
      'x/cache',
      'cache',
      'x/y/cache',
      'docs/readme.md',
    ];
    expectPicomatchVerdicts(globs, paths, 6);
  });
});

describe('isInside', () => {
  it('needs the prefix to end at a separator (the /srv/a_evil shape)', () => {
    expect(isInside('/srv/a', '/srv/a')).toBe(true);
    expect(isInside('/srv/a', '/srv/a/x')).toBe(true);
    expect(isInside('/srv/a', '/srv/a_evil')).toBe(false);
    expect(isInside('/srv/a', '/srv/a_evil/x')).toBe(false);
    expect(isInside('/srv/a', '/srv')).toBe(false);
    expect(isInside('/srv/a/', '/srv/a/x')).toBe(true);
  });
});
