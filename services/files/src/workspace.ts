import { createHash } from 'node:crypto';
import { type BigIntStats, constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { ToolError } from '@flotilla/runtime';
import picomatch from 'picomatch';
import { RE2JS } from 're2js';
import { replaceAtomically } from './atomic-write.js';
import { decodeContent, looksBinary, mimeTypeOf } from './content.js';
import { applyEdits, type TextEdit, unifiedDiff } from './edits.js';
import type { FilesMetrics } from './metrics.js';
import type { HeldLock, PathLocks } from './path-locks.js';
import {
  type DenyList,
  PathRefusal,
  parseWorkspacePath,
  type RefusalReason,
  splitName,
  TEMP_PREFIX,
  type WorkspacePath,
} from './paths.js';
import { at, etagOf, type FileHandle, TenantTree, tenantDirectoryName } from './sandbox.js';
import type { TenantUsage } from './tenant-usage.js';
import { bytesUsed, holdsHidden, removeTree, walkTree } from './tree-walk.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** Reads go in chunks so a cancelled call stops between them instead of finishing a large read. */
const READ_CHUNK = 1024 * 1024;
const GREP_LINE_CHARS = 500;

export interface WorkspaceLimits {
  maxReadBytes: number;
  maxWriteBytes: number;
  listPageSize: number;
  grepMaxMatches: number;
  grepTimeBudgetMs: number;
}

export type EntryKind = 'file' | 'directory' | 'symlink' | 'other';

const REFUSAL_CODES: Record<RefusalReason, ToolError['code']> = {
  invalid_path: 'INVALID_ARGUMENT',
  outside_root: 'FORBIDDEN',
  symlink: 'FORBIDDEN',
  denied: 'FORBIDDEN',
  too_large: 'TOO_LARGE',
  quota: 'TOO_LARGE',
  conflict: 'CONFLICT',
  precondition: 'PRECONDITION_FAILED',
};

/**
 * A tenant-scoped view of the shared volume: what every files tool is given instead of `fs`.
 * Paths are parsed by paths.ts, opened through handles by sandbox.ts, and every refusal is counted
 * by reason and turned into a tool error here, in one place.
 */
export class Workspace {
  private readonly trees = new Map<string, TenantTree>();

  constructor(
    /** FILES_ROOT, already resolved to its real path. */
    private readonly root: string,
    private readonly deny: DenyList,
    private readonly limits: WorkspaceLimits,
    private readonly locks: PathLocks,
    private readonly usage: TenantUsage,
    private readonly metrics: FilesMetrics,
  ) {}

  get pageSize(): number {
    return this.limits.listPageSize;
  }

  async list(tenant: string, raw: string, page: { cursor?: string; limit: number; details: boolean }) {
    return this.guard(raw, async () => {
      const path = this.parse(raw);
      const { handle, stats, realRelative } = await (await this.tree(tenant)).openForRead(path);
      try {
        if (!stats.isDirectory())
          throw new ToolError('INVALID_ARGUMENT', `${show(path)} is a file; use stat or read_file.`);
        const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
        const listed = (await fs.readdir(at(handle), { withFileTypes: true }))
          .filter((entry) => !entry.name.startsWith(TEMP_PREFIX) && !this.deny.isDeniedEntry(realRelative, entry.name))
          .sort((a, b) => byCodeUnit(a.name, b.name));
        const start = after === undefined ? 0 : listed.findIndex((entry) => entry.name > after);
        const slice = start === -1 ? [] : listed.slice(start, start + page.limit);
        // The directory itself says each entry's type; sizes and times cost one lstat per entry, so
        // they come only when asked for.
        const entries = page.details
          ? await Promise.all(
              slice.map(async ({ name }) => {
                const entry = await fs.lstat(at(handle, name)).catch(() => undefined);
                return {
                  name,
                  type: entry ? kindOf(entry) : ('other' as const),
                  size: entry?.isFile() ? entry.size : null,
                  modifiedAt: entry ? entry.mtime.toISOString() : null,
                };
              }),
            )
          : slice.map((entry) => ({ name: entry.name, type: kindOf(entry) }));
        const more = start !== -1 && start + page.limit < listed.length;
        const last = slice.at(-1)?.name;
        return { path: path.relative, entries, nextCursor: more && last ? encodeCursor(last) : null };
      } finally {
        await handle.close();
      }
    });
  }

  async stat(tenant: string, raw: string) {
    return this.guard(raw, async () => {
      const path = this.parse(raw);
      const { handle, stats } = await (await this.tree(tenant)).openForRead(path);
      await handle.close();
      const isFile = stats.isFile();
      return {
        path: path.relative,
        type: isFile ? ('file' as const) : ('directory' as const),
        size: Number(stats.size),
        modifiedAt: new Date(Number(stats.mtimeMs)).toISOString(),
        etag: etagOf(stats),
        mimeType: isFile ? mimeTypeOf(path.segments.at(-1) ?? '') : null,
      };
    });
  }

  async read(tenant: string, raw: string, range: { offset: number; length?: number }, signal: AbortSignal) {
    return this.guard(raw, async () => {
      const path = this.parse(raw);
      const { handle, stats } = await (await this.tree(tenant)).openForRead(path);
      try {
        if (!stats.isFile())
          throw new ToolError('INVALID_ARGUMENT', `${show(path)} is a directory; use list_directory.`);
        const size = Number(stats.size);
        if (range.offset > size) {
          throw new ToolError(
            'INVALID_ARGUMENT',
            `offset ${range.offset} is past the end of the file (${size} bytes).`,
          );
        }
        const count = Math.min(range.length ?? size - range.offset, size - range.offset);
        if (count > this.limits.maxReadBytes) {
          throw new PathRefusal(
            'too_large',
            `${show(path)} has ${size - range.offset} bytes from offset ${range.offset}; one read returns at most ` +
              `${this.limits.maxReadBytes}. Read it in ranges with offset and length, or use grep to find what you need.`,
          );
        }
        const bytes = Buffer.allocUnsafe(count);
        for (let done = 0; done < count; ) {
          signal.throwIfAborted();
          const { bytesRead } = await handle.read(bytes, done, Math.min(READ_CHUNK, count - done), range.offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        const decoded = decodeContent(path.segments.at(-1) ?? '', bytes, range.offset + count >= size);
        this.metrics.bytesRead.inc(decoded.length);
        return {
          path: path.relative,
          etag: etagOf(stats),
          size,
          offset: range.offset,
          length: decoded.length,
          eof: range.offset + decoded.length >= size,
          mimeType: decoded.mimeType,
          encoding: decoded.encoding,
          content: decoded.content,
        };
      } finally {
        await handle.close();
      }
    });
  }

  async search(tenant: string, raw: string, glob: string, signal: AbortSignal) {
    return this.guard(raw, async () => {
      const path = this.parse(raw);
      const matches = picomatch(glob, { dot: false });
      const deadline = Date.now() + this.limits.grepTimeBudgetMs;
      const found: { path: string; type: EntryKind }[] = [];
      let truncated = false;
      await this.walkDirectory(tenant, path, signal, async (entry) => {
        if (found.length >= this.limits.listPageSize || Date.now() > deadline) {
          truncated = true;
          return false;
        }
        if (matches(entry.below)) found.push({ path: entry.shown, type: entry.kind });
        return true;
      });
      return { path: path.relative, matches: found, truncated };
    });
  }

  async grep(tenant: string, raw: string, query: { pattern: string; glob?: string }, signal: AbortSignal) {
    return this.guard(raw, async () => {
      const path = this.parse(raw);
      const regex = compileLinear(query.pattern);
      const included = query.glob ? picomatch(query.glob, { dot: false }) : () => true;
      const deadline = Date.now() + this.limits.grepTimeBudgetMs;
      const matches: { path: string; line: number; text: string }[] = [];
      let filesSearched = 0;
      let filesSkipped = 0;
      let truncated = false;
      const searchFile = async (file: FileHandle, shown: string) => {
        const { size } = await file.stat();
        if (size > this.limits.maxReadBytes) {
          filesSkipped += 1;
          return;
        }
        const bytes = await file.readFile();
        if (looksBinary(bytes.subarray(0, 8192))) {
          filesSkipped += 1;
          return;
        }
        filesSearched += 1;
        const lines = bytes.toString('utf8').split('\n');
        for (const [index, line] of lines.entries()) {
          if (!regex.matcher(line).find()) continue;
          if (matches.length >= this.limits.grepMaxMatches) {
            truncated = true;
            return;
          }
          matches.push({ path: shown, line: index + 1, text: line.slice(0, GREP_LINE_CHARS) });
        }
      };
      const tree = await this.tree(tenant);
      const { handle, stats } = await tree.openForRead(path);
      try {
        if (stats.isFile()) await searchFile(handle, path.relative);
      } finally {
        await handle.close();
      }
      if (!stats.isFile()) {
        await this.walkDirectory(tenant, path, signal, async (entry) => {
          if (truncated || Date.now() > deadline) {
            truncated = true;
            return false;
          }
          if (entry.kind !== 'file' || !included(entry.below)) return true;
          const file = await fs
            .open(at(entry.directory, entry.name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
            .catch(() => undefined);
          if (!file) return true;
          try {
            await searchFile(file, entry.shown);
          } finally {
            await file.close();
          }
          return true;
        });
      }
      return { path: path.relative, matches, filesSearched, filesSkipped, truncated };
    });
  }

  async write(
    tenant: string,
    raw: string,
    bytes: Uint8Array,
    conditions: { ifMatch?: string; createOnly: boolean },
    signal: AbortSignal,
  ) {
    // Refused before the lease is taken or a parent directory created; commit() checks again for edits.
    if (bytes.length > this.limits.maxWriteBytes) {
      return this.guard(raw, async () => {
        throw new PathRefusal(
          'too_large',
          `The content is ${bytes.length} bytes; one write may be at most ${this.limits.maxWriteBytes}.`,
        );
      });
    }
    return this.changeFile(tenant, raw, { createParents: true }, signal, async ({ path, name, directory, commit }) => {
      const existing = await fs.lstat(at(directory, name), { bigint: true }).catch(ignoreMissing);
      if (existing?.isSymbolicLink()) {
        throw new PathRefusal(
          'symlink',
          `${show(path)} is a symbolic link; writes never go through links. Delete it first.`,
        );
      }
      if (existing && !existing.isFile()) throw new PathRefusal('conflict', `${show(path)} is a directory.`);
      if (conditions.createOnly && existing) {
        throw new PathRefusal('conflict', `${show(path)} already exists (createOnly was set).`);
      }
      if (conditions.ifMatch !== undefined) {
        this.checkEtag(path, existing ? etagOf(existing) : undefined, conditions.ifMatch);
      }
      const stats = await commit(bytes, Number(existing?.size ?? 0n), conditions.createOnly);
      return { path: path.relative, etag: etagOf(stats), size: Number(stats.size), created: !existing };
    });
  }

  async edit(
    tenant: string,
    raw: string,
    edits: readonly TextEdit[],
    options: { ifMatch?: string; dryRun: boolean },
    signal: AbortSignal,
  ) {
    return this.changeFile(tenant, raw, { createParents: false }, signal, async ({ path, name, directory, commit }) => {
      const before = await this.readTextForEdit(directory, name, path, options.ifMatch);
      const after = applyEdits(before.text, edits);
      const diff = unifiedDiff(path.relative, before.text, after);
      if (options.dryRun) return { path: path.relative, etag: before.etag, diff, dryRun: true };
      const stats = await commit(Buffer.from(after, 'utf8'), before.size, false);
      return { path: path.relative, etag: etagOf(stats), diff, dryRun: false };
    });
  }

  async makeDirectory(tenant: string, raw: string) {
    return this.guard(raw, async () => {
      const path = this.parse(raw);
      const { handle, created } = await (await this.tree(tenant)).openDirectory(path, true);
      await handle.close();
      return { path: path.relative, created };
    });
  }

  async move(tenant: string, rawFrom: string, rawTo: string, overwrite: boolean, signal: AbortSignal) {
    return this.guard(rawFrom, async () => {
      const from = this.parse(rawFrom);
      const to = this.parse(rawTo);
      const source = splitName(from);
      const target = splitName(to);
      if (to.relative === from.relative || to.relative.startsWith(`${from.relative}/`)) {
        throw new PathRefusal('invalid_path', `Cannot move ${show(from)} to itself or into itself.`);
      }
      const tree = await this.tree(tenant);
      return this.withLock(tenant, [from, to], signal, async (locks) => {
        const { handle: fromDirectory } = await tree.openDirectory(source.parent, false);
        try {
          const { handle: toDirectory } = await tree.openDirectory(target.parent, true);
          try {
            const moving = await fs.lstat(at(fromDirectory, source.name));
            const existing = await fs.lstat(at(toDirectory, target.name)).catch(ignoreMissing);
            if (existing && !overwrite) {
              throw new PathRefusal('conflict', `${show(to)} already exists; pass overwrite: true to replace it.`);
            }
            if (existing?.isDirectory() && !moving.isDirectory()) {
              throw new PathRefusal('conflict', `${show(to)} is a directory; a file cannot replace it.`);
            }
            await stillOurs(locks, signal);
            // Within the tree a move changes no byte, unless it replaces a file.
            const replaced = existing?.isFile() ? existing.size : 0;
            const change = replaced > 0 ? await this.usage.reserve(tenant, -replaced, signal) : undefined;
            let freed = 0;
            try {
              await fs.rename(at(fromDirectory, source.name), at(toDirectory, target.name));
              freed = replaced;
              await Promise.all([fromDirectory.sync(), toDirectory.sync()]);
            } finally {
              await change?.settle(-freed);
            }
            return { from: from.relative, to: to.relative, overwritten: existing !== undefined };
          } finally {
            await toDirectory.close();
          }
        } finally {
          await fromDirectory.close();
        }
      });
    });
  }

  async delete(tenant: string, raw: string, recursive: boolean, signal: AbortSignal) {
    return this.changeFile(tenant, raw, { createParents: false }, signal, async ({ path, name, directory, locks }) => {
      const target = await fs.lstat(at(directory, name));
      await stillOurs(locks, signal);
      const change = await this.usage.reserve(tenant, 0, signal);
      // Counted as each file goes, so a recursive delete that fails half-way settles what it did remove.
      const freed = { bytes: 0 };
      try {
        if (!target.isDirectory()) {
          await fs.unlink(at(directory, name));
          if (target.isFile()) freed.bytes = target.size;
        } else if (recursive) {
          await this.refuseIfHoldsHidden(directory, name, path, signal);
          await removeTree(directory, name, freed);
        } else {
          await fs.rmdir(at(directory, name)).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOTEMPTY') throw error;
            throw new PathRefusal(
              'precondition',
              `${show(path)} is a non-empty directory; pass recursive: true to delete it.`,
            );
          });
        }
        await directory.sync();
      } finally {
        await change.settle(-freed.bytes);
      }
      return { path: path.relative, type: kindOf(target), deleted: true };
    });
  }

  private async refuseIfHoldsHidden(parent: FileHandle, name: string, path: WorkspacePath, signal: AbortSignal) {
    const directory = await fs.open(at(parent, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      // Changes never follow links, so the path as given is the real one below the tenant root.
      if (await holdsHidden(directory, path.relative, (real, entry) => this.deny.isDeniedEntry(real, entry), signal)) {
        throw new PathRefusal(
          'denied',
          `${show(path)} holds paths this server does not touch (such as .git, .env or .ssh), so it cannot be deleted as a whole; delete the other entries one by one.`,
        );
      }
    } finally {
      await directory.close();
    }
  }

  /** Readiness: the volume is mounted and writable (a probe file is written, synced and removed). */
  async checkWritable(): Promise<void> {
    const probe = join(this.root, `.flotilla-readyz-${process.pid}`);
    const file = await fs.open(probe, 'w', 0o600);
    try {
      await file.writeFile('ok');
      await file.sync();
    } finally {
      await file.close();
      await fs.unlink(probe).catch(() => undefined);
    }
  }

  /**
   * The frame of every change to one path: parse it, hold its lease, open its directory without
   * following links, and offer `commit`, the one way new content reaches the disk (size cap, quota
   * reservation, atomic replace under a lease still held, usage settled, bytes counted).
   */
  private async changeFile<T>(
    tenant: string,
    raw: string,
    options: { createParents: boolean },
    signal: AbortSignal,
    work: (change: {
      path: WorkspacePath;
      name: string;
      directory: FileHandle;
      locks: HeldLock[];
      commit(bytes: Uint8Array, replacedSize: number, createOnly: boolean): Promise<BigIntStats>;
    }) => Promise<T>,
  ): Promise<T> {
    return this.guard(raw, async () => {
      const path = this.parse(raw);
      const { parent, name } = splitName(path);
      const tree = await this.tree(tenant);
      return this.withLock(tenant, [path], signal, async (locks) => {
        const { handle: directory } = await tree.openDirectory(parent, options.createParents);
        const commit = async (bytes: Uint8Array, replacedSize: number, createOnly: boolean) => {
          if (bytes.length > this.limits.maxWriteBytes) {
            throw new PathRefusal(
              'too_large',
              `${show(path)} would be ${bytes.length} bytes; one write may be at most ${this.limits.maxWriteBytes}.`,
            );
          }
          // The growth is reserved before a byte is written and settled to what the disk really changed.
          const change = await this.usage.reserve(tenant, bytes.length - replacedSize, signal);
          let stats: BigIntStats;
          try {
            stats = await replaceAtomically(directory, name, bytes, {
              createOnly,
              beforeCommit: () => stillOurs(locks, signal),
            });
          } catch (error) {
            await change.settle(0);
            throw error;
          }
          await change.settle(Number(stats.size) - replacedSize);
          this.metrics.bytesWritten.inc(bytes.length);
          return stats;
        };
        try {
          return await work({ path, name, directory, locks, commit });
        } finally {
          await directory.close();
        }
      });
    });
  }

  private parse(raw: string): WorkspacePath {
    const path = parseWorkspacePath(raw);
    this.deny.check(path);
    return path;
  }

  private async tree(tenant: string): Promise<TenantTree> {
    const known = this.trees.get(tenant);
    if (known) return known;
    const root = join(this.root, tenantDirectoryName(tenant));
    await fs.mkdir(root, { mode: 0o750 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    const tree = new TenantTree(root, this.deny);
    this.trees.set(tenant, tree);
    this.usage.track(tenant, (signal) => sumTree(tree, signal));
    return tree;
  }

  private async walkDirectory(
    tenant: string,
    path: WorkspacePath,
    signal: AbortSignal,
    visit: (entry: {
      shown: string;
      below: string;
      name: string;
      kind: EntryKind;
      directory: FileHandle;
    }) => Promise<boolean>,
  ): Promise<void> {
    const { handle, stats, realRelative } = await (await this.tree(tenant)).openForRead(path);
    try {
      if (!stats.isDirectory()) throw new ToolError('INVALID_ARGUMENT', `${show(path)} is a file; give a directory.`);
      for await (const entry of walkTree(
        handle,
        { shown: '', real: realRelative },
        (parent, name) => this.deny.isDeniedEntry(parent, name),
        signal,
      )) {
        const shown = below(path.relative, entry.shown);
        if (!(await visit({ ...entry, shown, below: entry.shown }))) return;
      }
    } finally {
      await handle.close();
    }
  }

  private async readTextForEdit(directory: FileHandle, name: string, path: WorkspacePath, ifMatch: string | undefined) {
    let file: FileHandle;
    try {
      file = await fs.open(at(directory, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
        throw new PathRefusal('symlink', `${show(path)} is a symbolic link; edits never go through links.`);
      }
      throw error;
    }
    try {
      const stats = await file.stat({ bigint: true });
      if (!stats.isFile()) throw new ToolError('INVALID_ARGUMENT', `${show(path)} is not a file.`);
      if (stats.size > BigInt(this.limits.maxWriteBytes)) {
        throw new PathRefusal(
          'too_large',
          `${show(path)} is larger than ${this.limits.maxWriteBytes} bytes; edit_file cannot change it.`,
        );
      }
      const etag = etagOf(stats);
      if (ifMatch !== undefined) this.checkEtag(path, etag, ifMatch);
      const bytes = await file.readFile();
      if (looksBinary(bytes))
        throw new ToolError('INVALID_ARGUMENT', `${show(path)} is binary; edit_file changes text files only.`);
      return { text: bytes.toString('utf8'), etag, size: bytes.length };
    } finally {
      await file.close();
    }
  }

  private checkEtag(path: WorkspacePath, current: string | undefined, expected: string): void {
    if (current === undefined) {
      throw new PathRefusal('precondition', `${show(path)} does not exist, so ifMatch ${expected} cannot match.`);
    }
    if (current !== expected) {
      throw new PathRefusal(
        'precondition',
        `${show(path)} changed since it was read (etag is now ${current}, not ${expected}). Read it again and redo the change.`,
      );
    }
  }

  /** Holds the leases of every path a change touches, in a fixed order so two moves cannot deadlock. */
  private async withLock<T>(
    tenant: string,
    paths: readonly WorkspacePath[],
    signal: AbortSignal,
    work: (locks: HeldLock[]) => Promise<T>,
  ): Promise<T> {
    const keys = [...new Set(paths.map((path) => lockKey(tenant, path)))].sort();
    const held: HeldLock[] = [];
    try {
      for (const key of keys) {
        const lock = await this.locks.acquire(key, signal);
        if (!lock) {
          throw new ToolError('CONFLICT', 'Another change to this file is in progress; read it again and retry.', {
            retryable: true,
            retryAfterMs: 250,
          });
        }
        held.push(lock);
      }
      return await work(held);
    } finally {
      await Promise.all(held.map((lock) => lock.release().catch(() => undefined)));
    }
  }

  /** Refusals are counted by reason; file-system errors become the tool error a model can act on, never a raw path. */
  private async guard<T>(raw: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof PathRefusal) {
        this.metrics.refusals.inc({ reason: error.reason });
        throw new ToolError(REFUSAL_CODES[error.reason], error.message);
      }
      if (error instanceof ToolError) {
        if (error.code === 'CONFLICT') this.metrics.refusals.inc({ reason: 'conflict' });
        if (error.code === 'PRECONDITION_FAILED') this.metrics.refusals.inc({ reason: 'precondition' });
        throw error;
      }
      throw fileSystemError(error, raw);
    }
  }
}

/** Every file's bytes in a tenant's tree, links not followed: what the usage counter is reconciled to. */
async function sumTree(tree: TenantTree, signal: AbortSignal): Promise<number> {
  const { handle } = await tree.openDirectory({ relative: '', segments: [] }, false);
  try {
    return await bytesUsed(handle, signal);
  } finally {
    await handle.close();
  }
}

function fileSystemError(error: unknown, raw: string): unknown {
  const shown = JSON.stringify(raw);
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new ToolError(
        'NOT_FOUND',
        `${shown} does not exist. Use list_directory or search_files to find the path.`,
      );
    case 'ELOOP':
      return new ToolError('FORBIDDEN', `${shown} goes through a loop of symbolic links.`);
    case 'EEXIST':
      return new ToolError('CONFLICT', `${shown} already exists.`);
    case 'ENOTEMPTY':
      return new ToolError('CONFLICT', `The target of ${shown} is a non-empty directory.`);
    case 'EISDIR':
      return new ToolError('INVALID_ARGUMENT', `${shown} is a directory.`);
    case 'ENAMETOOLONG':
      return new ToolError('INVALID_ARGUMENT', `${shown} is too long.`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new ToolError('UNAVAILABLE', 'The shared volume is full; retry later.', { retryAfterMs: 30_000 });
    default:
      return error;
  }
}

/** RE2 semantics: matching time grows linearly with the input, so no pattern can stall the server. */
function compileLinear(pattern: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (error) {
    throw new ToolError(
      'INVALID_ARGUMENT',
      `The pattern is not a valid RE2 regular expression (${(error as Error).message}). ` +
        'Backreferences and lookaround are not supported.',
    );
  }
}

async function stillOurs(locks: readonly HeldLock[], signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  for (const lock of locks) {
    if (!(await lock.stillHeld())) {
      throw new ToolError('CONFLICT', 'The change took too long and lost its lock; read the file again and retry.', {
        retryable: true,
      });
    }
  }
}

function lockKey(tenant: string, path: WorkspacePath): string {
  return `flotilla:files:lock:${createHash('sha256').update(`${tenant}\0${path.relative}`).digest('hex')}`;
}

function kindOf(stats: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryKind {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symlink';
  return 'other';
}

function ignoreMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}

function below(directory: string, name: string): string {
  return directory === '' ? name : `${directory}/${name}`;
}

function show(path: WorkspacePath): string {
  return JSON.stringify(path.relative === '' ? '.' : path.relative);
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodeCursor(lastName: string): string {
  return Buffer.from(JSON.stringify({ after: lastName })).toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof after === 'string') return after;
  } catch {
    // falls through to the refusal below
  }
  throw new ToolError(
    'INVALID_ARGUMENT',
    'The cursor is not one this server issued; omit it to start from the first page.',
  );
}
