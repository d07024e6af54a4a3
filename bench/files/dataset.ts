import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Flotilla over stdio serves the tenant AUTH_ANONYMOUS_TENANT, `local` by default, from FILES_ROOT/local. */
export const FLOTILLA_TENANT = 'local';
export const DOCUMENT_NAME = 'doc.txt';
export const DOCUMENT_BYTES = 4096;
export const DIRECTORY_NAME = 'many';
export const DIRECTORY_ENTRIES = 1000;

export interface Dataset {
  /** FILES_ROOT for Flotilla. */
  readonly filesRoot: string;
  /** The directory both servers serve: Flotilla's tenant tree, and the reference server's allowed directory. */
  readonly served: string;
  /** What read_file must return, byte for byte. */
  readonly documentText: string;
  /** The names list_directory must return, sorted. */
  readonly entryNames: readonly string[];
  /** Deletes the tree. */
  remove(): Promise<void>;
}

/**
 * Plain ASCII prose in numbered lines, cut to exactly DOCUMENT_BYTES: text every server returns as
 * text, with no multi-byte character that would make its length in bytes and in characters differ.
 */
function documentText(): string {
  let text = '';
  for (let line = 1; text.length < DOCUMENT_BYTES; line += 1) {
    text += `${String(line).padStart(3, '0')}: The quick brown fox jumps over the lazy dog; a benchmark reads this line.\n`;
  }
  return `${text.slice(0, DOCUMENT_BYTES - 1)}\n`;
}

/**
 * One tree both servers serve, so they return the same bytes: a 4 KiB text file and a directory of
 * 1,000 small files. The tree is built once, before either server starts, and nothing writes to it
 * afterwards.
 */
export async function createDataset(): Promise<Dataset> {
  // The real path: both servers resolve links in their root, and the reference server is given absolute paths.
  const filesRoot = await realpath(await mkdtemp(join(tmpdir(), 'flotilla-bench-files-')));
  // If the benchmark dies first, its temporary tree must not outlive it.
  const removeOnExit = () => rmSync(filesRoot, { recursive: true, force: true });
  process.once('exit', removeOnExit);
  const served = join(filesRoot, FLOTILLA_TENANT);
  await mkdir(join(served, DIRECTORY_NAME), { recursive: true });
  const text = documentText();
  await writeFile(join(served, DOCUMENT_NAME), text);
  const entryNames = Array.from(
    { length: DIRECTORY_ENTRIES },
    (_, index) => `entry-${String(index).padStart(4, '0')}.txt`,
  );
  for (const name of entryNames) await writeFile(join(served, DIRECTORY_NAME, name), `${name}\n`);
  return {
    filesRoot,
    served,
    documentText: text,
    entryNames,
    async remove() {
      process.removeListener('exit', removeOnExit);
      await rm(filesRoot, { recursive: true, force: true });
    },
  };
}
