import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from './index.js';
import { findPostgresBinaries } from './pg-cluster.js';

// The newcomer's path: a checkout in a directory only root may enter (`mktemp -d`, /root), tests run as root. The
// `postgres` user the server runs as cannot reach binaries there; the test kit must still start PostgreSQL.

function installRoot(): string | undefined {
  try {
    const root = dirname(dirname(findPostgresBinaries().postgres));
    return ['bin', 'lib', 'share'].every((part) => existsSync(join(root, part))) ? root : undefined;
  } catch {
    return undefined;
  }
}

const source =
  process.getuid?.() === 0 && process.env.FLOTILLA_TESTKIT_MODE !== 'containers' ? installRoot() : undefined;

async function withPgBin<T>(dir: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.FLOTILLA_PG_BIN;
  process.env.FLOTILLA_PG_BIN = dir;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.FLOTILLA_PG_BIN;
    else process.env.FLOTILLA_PG_BIN = saved;
  }
}

describe.skipIf(!source)('PostgreSQL from binaries in a private directory, as root', () => {
  let privateDir: string;

  beforeAll(() => {
    privateDir = mkdtempSync(join(tmpdir(), 'testkit-private-checkout-'));
    expect(statSync(privateDir).mode & 0o777).toBe(0o700);
    for (const part of ['bin', 'lib', 'share']) {
      cpSync(join(source as string, part), join(privateDir, 'checkout', part), {
        recursive: true,
        verbatimSymlinks: true,
      });
    }
  });

  afterAll(() => {
    if (privateDir) rmSync(privateDir, { recursive: true, force: true });
  });

  it('starts, runs from a root-owned copy outside the private directory, and leaves its mode alone', async () => {
    const db = await withPgBin(join(privateDir, 'checkout', 'bin'), () => startPostgres());
    try {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query<{ dir: string; one: number }>('select current_setting($1) as dir, 1 as one', [
        'data_directory',
      ]);
      await client.end();
      expect(rows[0]?.one).toBe(1);
      const postmasterPid = readFileSync(join(rows[0]?.dir ?? '', 'postmaster.pid'), 'utf8').split('\n')[0];
      const executable = readlinkSync(`/proc/${postmasterPid}/exe`);
      expect(executable.startsWith(join(tmpdir(), 'flotilla-postgres-bin-'))).toBe(true);
      const copy = dirname(dirname(executable));
      expect(statSync(copy).uid).toBe(0);
      expect(statSync(copy).mode & 0o777).toBe(0o755);
    } finally {
      await db.destroy();
    }
    expect(statSync(privateDir).mode & 0o777).toBe(0o700);
  });

  it('names the directory the postgres user cannot enter and the ways out, at once, when no copy can be made', async () => {
    // A bare bin/ without lib/ and share/ beside it is not an install the kit can copy.
    const bare = join(privateDir, 'bare', 'bin');
    mkdirSync(bare, { recursive: true });
    for (const name of ['initdb', 'postgres']) copyFileSync(join(source as string, 'bin', name), join(bare, name));
    const started = Date.now();
    const failure = await withPgBin(bare, () => startPostgres()).then(
      () => new Error('started unexpectedly'),
      (error: Error) => error,
    );
    expect(failure.message).toContain(`it cannot enter ${privateDir} (mode 700, owner uid 0)`);
    expect(failure.message).toContain('FLOTILLA_PG_BIN');
    expect(failure.message).toContain('DATABASE_URL');
    expect(failure.message).not.toMatch(/EACCES|spawn/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
