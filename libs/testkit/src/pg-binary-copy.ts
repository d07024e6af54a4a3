import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { PostgresBinaries } from './pg-cluster.js';
import { type RunAs, runToCompletion } from './processes.js';

// Not one of cleanup.ts's TEMP_DIR_PREFIXES: the copy is shared by every run on the machine and is never swept.
const COPY_PREFIX = 'flotilla-postgres-bin-';
// The parts of an install the server needs: it finds lib/ and share/ relative to its own bin/.
const INSTALL_PARTS = ['bin', 'lib', 'share'] as const;

/**
 * Root runs PostgreSQL as the `postgres` OS user (PostgreSQL refuses root), and that user cannot execute binaries
 * below a directory only root may enter: a checkout under `mktemp -d` or /root. Such an install is copied once per
 * machine into a root-owned, world-readable tree under the temporary directory and used from there. The user's own
 * directories are never made more permissive.
 */
export async function binariesRunnableBy(
  binaries: PostgresBinaries,
  runAs: RunAs | undefined,
): Promise<PostgresBinaries> {
  if (!runAs || (await runsAs(binaries.postgres, runAs))) return binaries;
  const installRoot = dirname(dirname(binaries.postgres));
  const blocked = describeBlockage(binaries.postgres, runAs);
  if (!INSTALL_PARTS.every((part) => existsSync(join(installRoot, part)))) {
    throw unreachableError(
      binaries.postgres,
      runAs,
      `${blocked}, and ${installRoot} has no bin/, lib/ and share/ to copy`,
    );
  }
  const copy = ensureCopy(installRoot);
  const copied = {
    initdb: join(copy, 'bin', basename(binaries.initdb)),
    postgres: join(copy, 'bin', basename(binaries.postgres)),
  };
  if (await runsAs(copied.postgres, runAs)) return copied;
  throw unreachableError(
    copied.postgres,
    runAs,
    `${blocked}, and its copy ${copy} cannot be run either (${describeBlockage(copied.postgres, runAs)})`,
  );
}

async function runsAs(postgres: string, runAs: RunAs): Promise<boolean> {
  const { exit } = await runToCompletion({ command: postgres, args: ['--version'], cwd: '/', runAs });
  return exit.code === 0;
}

function unreachableError(postgres: string, runAs: RunAs, why: string): Error {
  return new Error(
    `PostgreSQL refuses to run as root, so the test kit runs it as the 'postgres' OS user (uid ${runAs.uid}), ` +
      `which cannot run ${postgres}: ${why}. ` +
      'Set FLOTILLA_PG_BIN to a PostgreSQL bin directory that user can reach (for example /usr/lib/postgresql/<version>/bin), ' +
      'run as a non-root user, or, for npm start, set DATABASE_URL to a running PostgreSQL.',
  );
}

/** Names the first directory on the way to `path` that `runAs` may not traverse, by its mode bits. */
function describeBlockage(path: string, runAs: RunAs): string {
  const ancestors: string[] = [];
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    ancestors.unshift(dir);
    if (dir === dirname(dir)) break;
  }
  for (const dir of ancestors) {
    let stats: Stats;
    try {
      stats = statSync(dir);
    } catch {
      return `${dir} cannot be read`;
    }
    if (!permits(stats, runAs, 0o1))
      return `it cannot enter ${dir} (mode ${(stats.mode & 0o7777).toString(8)}, owner uid ${stats.uid})`;
  }
  return 'it may not execute the file or load its libraries';
}

function permits(stats: Stats, runAs: RunAs, bit: number): boolean {
  if (stats.uid === runAs.uid) return (stats.mode & (bit << 6)) !== 0;
  if (stats.gid === runAs.gid) return (stats.mode & (bit << 3)) !== 0;
  return (stats.mode & bit) !== 0;
}

/** The copy's name comes from the install's contents, so identical installs (wherever they live) share one copy. */
function copyKey(installRoot: string): string {
  const hash = createHash('sha256');
  for (const part of INSTALL_PARTS) {
    const base = join(installRoot, part);
    const entries = readdirSync(base, { recursive: true, encoding: 'utf8' }).sort();
    for (const entry of entries) {
      const stats = lstatSync(join(base, entry));
      hash.update(`${part}/${entry}:${stats.isSymbolicLink() ? 'link' : stats.size}\n`);
    }
  }
  return hash.digest('hex').slice(0, 16);
}

function ensureCopy(installRoot: string): string {
  const target = join(tmpdir(), `${COPY_PREFIX}${copyKey(installRoot)}`);
  if (!existsSync(target)) {
    const staging = mkdtempSync(`${target}.staging-`);
    try {
      for (const part of INSTALL_PARTS) {
        cpSync(join(installRoot, part), join(staging, part), { recursive: true, verbatimSymlinks: true });
      }
      makeWorldReadable(staging);
      try {
        renameSync(staging, target);
      } catch (error) {
        // Another process finished the same copy first; theirs is as good as ours.
        if (!existsSync(target)) throw error;
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  assertTrusted(target);
  return target;
}

function makeWorldReadable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, entry);
    const stats = lstatSync(path);
    if (stats.isSymbolicLink()) continue;
    chmodSync(path, stats.isDirectory() || stats.mode & 0o111 ? 0o755 : 0o644);
  }
}

/**
 * The temporary directory is shared with every user, so a directory already at the copy's name is used only when
 * root owns it and nobody else can write to it or to anything in it.
 */
function assertTrusted(copy: string): void {
  const check = (path: string) => {
    const stats = lstatSync(path);
    if (stats.isSymbolicLink()) return;
    if (stats.uid !== 0 || stats.mode & 0o022) {
      throw new Error(
        `${copy} (a copy of the PostgreSQL binaries for the 'postgres' user) is not root-owned and read-only to others ` +
          `at ${relative(copy, path) || '.'}; remove it and run again.`,
      );
    }
  };
  check(copy);
  for (const entry of readdirSync(copy, { recursive: true, encoding: 'utf8' })) check(join(copy, entry));
}
