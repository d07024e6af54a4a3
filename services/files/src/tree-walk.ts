import { constants, promises as fs } from 'node:fs';
import { TEMP_PREFIX } from './paths.js';
import { at, type FileHandle } from './sandbox.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

/** Deeper trees are not walked: a bound on open handles and on a pathological layout's cost. */
const MAX_DEPTH = 64;

export interface WalkEntry {
  /** The path as the caller addresses it (below the directory they asked for). */
  shown: string;
  name: string;
  kind: 'file' | 'directory' | 'symlink' | 'other';
  /** The open directory holding the entry: open the entry as `at(directory, name)`. */
  directory: FileHandle;
}

/**
 * Walks a tree depth-first in name order without following links: every directory is opened from
 * its parent's handle with O_NOFOLLOW, so a link swapped in during the walk is skipped, not entered.
 * Temporaries and deny-globbed paths are invisible.
 */
export async function* walkTree(
  start: FileHandle,
  places: { shown: string; real: string },
  /** Deny-globs, given the real parent path below the tenant root (already allowed) and a name. */
  isHidden: (parentReal: string, name: string) => boolean,
  signal: AbortSignal,
  depth = 0,
): AsyncGenerator<WalkEntry> {
  signal.throwIfAborted();
  const entries = await fs.readdir(at(start), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    // Per entry, not per directory: a grep of one large directory must stop soon after its call is cancelled.
    signal.throwIfAborted();
    if (entry.name.startsWith(TEMP_PREFIX)) continue;
    if (isHidden(places.real, entry.name)) continue;
    const real = places.real === '' ? entry.name : `${places.real}/${entry.name}`;
    const shown = places.shown === '' ? entry.name : `${places.shown}/${entry.name}`;
    const kind = entry.isFile()
      ? 'file'
      : entry.isDirectory()
        ? 'directory'
        : entry.isSymbolicLink()
          ? 'symlink'
          : 'other';
    yield { shown, name: entry.name, kind, directory: start };
    if (kind !== 'directory' || depth >= MAX_DEPTH) continue;
    let child: FileHandle;
    try {
      child = await fs.open(at(start, entry.name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch {
      continue; // removed or replaced by a link since it was listed
    }
    try {
      yield* walkTree(child, { shown, real }, isHidden, signal, depth + 1);
    } finally {
      await child.close();
    }
  }
}

/** Bytes used by a tenant's files: the sum every quota check compares against. */
export async function bytesUsed(root: FileHandle, signal: AbortSignal): Promise<number> {
  let total = 0;
  for await (const entry of walkTree(root, { shown: '', real: '' }, () => false, signal)) {
    if (entry.kind !== 'file') continue;
    const stats = await fs.lstat(at(entry.directory, entry.name)).catch(() => undefined);
    total += stats?.size ?? 0;
  }
  return total;
}

/**
 * Whether a tree holds anything deny-globbed, at any depth (links are not entered): a recursive delete must not
 * destroy what no tool may touch, such as a nested repository's .git planted beside the server.
 */
export async function holdsHidden(
  directory: FileHandle,
  real: string,
  isHidden: (parentReal: string, name: string) => boolean,
  signal: AbortSignal,
): Promise<boolean> {
  signal.throwIfAborted();
  for (const entry of await fs.readdir(at(directory), { withFileTypes: true })) {
    if (isHidden(real, entry.name)) return true;
    if (!entry.isDirectory()) continue;
    let child: FileHandle;
    try {
      child = await fs.open(at(directory, entry.name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch {
      continue; // removed or replaced by a link since it was listed: removeTree unlinks it without entering
    }
    try {
      if (await holdsHidden(child, real === '' ? entry.name : `${real}/${entry.name}`, isHidden, signal)) return true;
    } finally {
      await child.close();
    }
  }
  return false;
}

/**
 * Deletes a directory tree through handles only, so a link swapped in mid-way is unlinked, never entered.
 * `freed` grows by each file's size as it goes (what `bytesUsed` counted), also when a later step fails.
 */
export async function removeTree(parent: FileHandle, name: string, freed: { bytes: number }): Promise<void> {
  let directory: FileHandle;
  try {
    directory = await fs.open(at(parent, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'ELOOP') return unlinkCounted(parent, name, freed);
    throw error;
  }
  try {
    for (const entry of await fs.readdir(at(directory), { withFileTypes: true })) {
      if (entry.isDirectory()) await removeTree(directory, entry.name, freed);
      else await unlinkCounted(directory, entry.name, freed);
    }
  } finally {
    await directory.close();
  }
  await fs.rmdir(at(parent, name));
}

async function unlinkCounted(directory: FileHandle, name: string, freed: { bytes: number }): Promise<void> {
  // Another writer's temporary is not in any count yet; links and sockets hold no file bytes.
  const stats = name.startsWith(TEMP_PREFIX) ? undefined : await fs.lstat(at(directory, name)).catch(() => undefined);
  await fs.unlink(at(directory, name));
  if (stats?.isFile()) freed.bytes += stats.size;
}
