import { randomUUID } from 'node:crypto';
import { type BigIntStats, constants, promises as fs } from 'node:fs';
import { TEMP_PREFIX } from './paths.js';
import { at, type FileHandle } from './sandbox.js';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/**
 * Writes `bytes` to a temporary file in the same directory, fsyncs it, then renames it over `name`
 * and fsyncs the directory: a reader sees the old file or the new one, never a torn one, and a
 * crash leaves at most an invisible temporary. rename() replaces a link in the target's place
 * instead of writing through it. With `createOnly`, link() refuses an existing name atomically.
 */
export async function replaceAtomically(
  directory: FileHandle,
  name: string,
  bytes: Uint8Array,
  options: { createOnly: boolean; beforeCommit(): Promise<void> },
): Promise<BigIntStats> {
  const temporary = `${TEMP_PREFIX}${randomUUID()}`;
  const file = await fs.open(at(directory, temporary), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o640);
  try {
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await options.beforeCommit();
    if (options.createOnly) {
      await fs.link(at(directory, temporary), at(directory, name));
      await fs.unlink(at(directory, temporary));
    } else {
      await fs.rename(at(directory, temporary), at(directory, name));
    }
  } catch (error) {
    await fs.unlink(at(directory, temporary)).catch(() => undefined);
    throw error;
  }
  await directory.sync();
  return fs.lstat(at(directory, name), { bigint: true });
}
