import { createHash } from 'node:crypto';
import { type BigIntStats, constants, promises as fs, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type DenyList, isInside, PathRefusal, type WorkspacePath } from './paths.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

export type FileHandle = fs.FileHandle;

/**
 * Every file operation goes through an open directory handle and a single name, addressed as
 * `/proc/self/fd/<fd>/<name>`: the kernel resolves that from the directory already opened, so a
 * directory renamed or swapped for a symbolic link after a check cannot redirect the operation
 * (the "link swapped in after a check" race). Linux only, checked at start-up.
 */
export function at(directory: FileHandle, name?: string): string {
  return name === undefined ? `/proc/self/fd/${directory.fd}` : `/proc/self/fd/${directory.fd}/${name}`;
}

export async function assertProcFdAvailable(): Promise<void> {
  const probe = await fs.open('/', O_RDONLY | O_DIRECTORY);
  try {
    await fs.readlink(at(probe));
  } catch {
    throw new Error('the files server needs Linux /proc/self/fd to open paths safely; it is not available here');
  } finally {
    await probe.close();
  }
}

/** One directory per tenant: its own name when that is a plain, safe name, otherwise a digest of it. */
export function tenantDirectoryName(tenant: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(tenant)
    ? tenant
    : `sha256-${createHash('sha256').update(tenant).digest('hex')}`;
}

/** A tenant's tree: its real absolute root, never reached through a link. */
export class TenantTree {
  constructor(
    readonly root: string,
    private readonly deny: DenyList,
  ) {}

  /**
   * Opens the directory at `path` for changes, one name at a time and never following a link, so a
   * write can neither go through a link nor be redirected by one. Missing directories are created
   * when `create` is set.
   */
  async openDirectory(path: WorkspacePath, create: boolean): Promise<{ handle: FileHandle; created: boolean }> {
    let handle = await fs.open(this.root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    let created = false;
    try {
      for (const [index, name] of path.segments.entries()) {
        const shown = path.segments.slice(0, index + 1).join('/');
        const next = await openChildDirectory(handle, name, create, shown);
        await handle.close();
        handle = next.handle;
        created ||= next.created;
      }
      return { handle, created };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * Opens a file or directory for reading. Links are followed, then the object actually opened is
   * checked: if its real path is outside the tenant root, or matches a deny-glob, it is closed
   * before a byte is read. Checking the opened object, not the path, leaves no window for a swap.
   */
  async openForRead(path: WorkspacePath): Promise<{ handle: FileHandle; stats: BigIntStats; realRelative: string }> {
    // O_NONBLOCK: opening a FIFO someone planted must not hang the call waiting for a writer.
    const handle = await fs.open(join(this.root, path.relative), O_RDONLY | O_NONBLOCK);
    try {
      // Synchronous on purpose: the kernel answers a readlink of /proc/self/fd from the open file itself,
      // without touching the file system (NFS included), so a trip through the thread pool costs more.
      const real = readlinkSync(at(handle));
      if (!isInside(this.root, real)) {
        throw new PathRefusal(
          'outside_root',
          `The path ${JSON.stringify(path.relative)} leads outside the workspace through a symbolic link and cannot be used.`,
        );
      }
      const realRelative = real === this.root ? '' : real.slice(this.root.length + 1);
      if (this.deny.isDenied(realRelative)) {
        throw new PathRefusal('denied', `The path ${JSON.stringify(path.relative)} is not accessible on this server.`);
      }
      const stats = await handle.stat({ bigint: true });
      if (!stats.isFile() && !stats.isDirectory()) {
        throw new PathRefusal('invalid_path', `${JSON.stringify(path.relative)} is not a regular file or directory.`);
      }
      return { handle, stats, realRelative };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }
}

async function openChildDirectory(
  parent: FileHandle,
  name: string,
  create: boolean,
  shown: string,
): Promise<{ handle: FileHandle; created: boolean }> {
  const flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
  try {
    return { handle: await fs.open(at(parent, name), flags), created: false };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      throw new PathRefusal(
        'symlink',
        `${JSON.stringify(shown)} is a symbolic link; changes are never made through links. Use its real path.`,
      );
    }
    if (code === 'ENOTDIR') {
      const stats = await fs.lstat(at(parent, name)).catch(() => undefined);
      if (stats?.isSymbolicLink()) {
        throw new PathRefusal(
          'symlink',
          `${JSON.stringify(shown)} is a symbolic link; changes are never made through links. Use its real path.`,
        );
      }
      throw new PathRefusal('conflict', `${JSON.stringify(shown)} is a file, not a directory.`);
    }
    if (code !== 'ENOENT' || !create) throw error;
  }
  try {
    await fs.mkdir(at(parent, name), 0o750);
  } catch (error) {
    // Another replica creating the same directory at the same moment is success, not a failure.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return { handle: await fs.open(at(parent, name), flags), created: true };
}

/** Changes whenever the file is replaced or modified: inode, size and nanosecond mtime. */
export function etagOf(stats: BigIntStats): string {
  return `"${stats.ino.toString(36)}-${stats.size.toString(36)}-${stats.mtimeNs.toString(36)}"`;
}
