import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { commandLine, isAlive, type RunAs, terminate } from './processes.js';

export const TEMP_DIR_PREFIXES = ['flotilla-pg-', 'flotilla-redis-', 'flotilla-issuer-', 'flotilla-keys-'] as const;
export type TempDirPrefix = (typeof TEMP_DIR_PREFIXES)[number];

const OWNER_FILE = 'flotilla-owner.json';
// A directory without an owner record may belong to a process that is between mkdtemp and writing the record.
const UNOWNED_GRACE_MS = 60_000;
const LEFTOVER_GRACE_MS = 5_000;

interface ServerRecord {
  readonly pid: number;
  /** Must appear in the pid's command line, so a recycled pid is never killed. */
  readonly marker: string;
  readonly signal: NodeJS.Signals;
}

interface OwnerRecord {
  readonly ownerPid: number;
  readonly server?: ServerRecord;
}

export interface TrackedResource {
  /** Runs inside process 'exit' and signal handlers: synchronous only. */
  cleanupSync(): void;
}

const live = new Set<TrackedResource>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let hooksInstalled = false;

function cleanupAllSync(): void {
  for (const resource of [...live]) {
    live.delete(resource);
    try {
      resource.cleanupSync();
    } catch {
      // Best effort: one failing resource must not keep the others alive.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAllSync();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  // Listening for a signal cancels Node's default of dying from it; restore that unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanupAllSync);
  // Worker threads never receive signals; their process-level owner does.
  if (isMainThread) for (const signal of SIGNALS) process.on(signal, onSignal);
}

/** Registers a resource for cleanup at process exit; returns the function that unregisters it. */
export function track(resource: TrackedResource): () => void {
  installHooks();
  live.add(resource);
  return () => {
    live.delete(resource);
  };
}

function writeOwnerRecord(dir: string, record: OwnerRecord): void {
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify(record));
}

function readOwnerRecord(dir: string): OwnerRecord | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as Partial<OwnerRecord>;
    return typeof parsed.ownerPid === 'number' ? (parsed as OwnerRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Creates `os.tmpdir()/<prefix>XXXXXX`, stamped with this process's pid, optionally owned by `owner`. */
export async function createTempDir(prefix: TempDirPrefix, owner?: RunAs): Promise<string> {
  await sweepStaleDirs();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeOwnerRecord(dir, { ownerPid: process.pid });
  if (owner) chownSync(dir, owner.uid, owner.gid);
  return dir;
}

/** Records the server running out of `dir`, so a later sweep can stop it if this process dies abruptly. */
export function recordServer(dir: string, server: ServerRecord): void {
  writeOwnerRecord(dir, { ownerPid: process.pid, server });
}

export function removeDirSync(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
}

function recentlyModified(dir: string): boolean {
  try {
    return Date.now() - statSync(dir).mtimeMs < UNOWNED_GRACE_MS;
  } catch {
    return true;
  }
}

function postmasterPid(dir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function stopLeftover(server: ServerRecord): Promise<void> {
  if (server.pid === process.pid || !isAlive(server.pid)) return;
  if (!commandLine(server.pid)?.includes(server.marker)) return;
  await terminate(server.pid, server.signal, LEFTOVER_GRACE_MS);
}

async function sweepDir(dir: string): Promise<void> {
  const owner = readOwnerRecord(dir);
  if (owner ? isAlive(owner.ownerPid) : recentlyModified(dir)) return;
  if (owner?.server) await stopLeftover(owner.server);
  const postmaster = postmasterPid(dir);
  // SIGQUIT is Postgres's immediate shutdown, which still releases its shared memory, unlike SIGKILL.
  if (postmaster !== undefined) await stopLeftover({ pid: postmaster, marker: join(dir, 'data'), signal: 'SIGQUIT' });
  await removeDir(dir).catch(() => undefined);
}

const sweeps = new Map<string, Promise<void>>();

async function sweepAll(root: string): Promise<void> {
  try {
    const names = readdirSync(root).filter((name) => TEMP_DIR_PREFIXES.some((prefix) => name.startsWith(prefix)));
    await Promise.all(names.map((name) => sweepDir(join(root, name))));
  } catch {
    // A failed sweep only leaves garbage behind; it must never fail a test.
  }
}

/** Removes temp dirs (and their servers) left behind by test processes that died without cleaning up. */
export function sweepStaleDirs(root: string = tmpdir()): Promise<void> {
  let sweep = sweeps.get(root);
  if (!sweep) {
    sweep = sweepAll(root).finally(() => sweeps.delete(root));
    sweeps.set(root, sweep);
  }
  return sweep;
}
