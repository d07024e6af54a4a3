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

/** One text file every system is asked to read whole. */
export interface Document {
  /** Its path below the served directory. */
  readonly name: string;
  readonly bytes: number;
  /** What read_file must return, byte for byte. */
  readonly text: string;
}

export interface Dataset {
  /** FILES_ROOT for Flotilla. */
  readonly filesRoot: string;
  /** The directory every system serves: Flotilla's tenant tree, and the reference server's allowed directory. */
  readonly served: string;
  /** The 4 KiB document, `doc.txt`. */
  readonly document: Document;
  /** One document per size asked for (the 4 KiB one included), smallest first. */
  readonly documents: readonly Document[];
  /** The names list_directory must return, sorted. */
  readonly entryNames: readonly string[];
  /** Deletes the tree. */
  remove(): Promise<void>;
}

/**
 * Plain ASCII prose in numbered lines, cut to exactly `bytes`: text every server returns as text,
 * with no multi-byte character that would make its length in bytes and in characters differ.
 */
function documentText(bytes: number): string {
  const lines: string[] = [];
  let length = 0;
  for (let line = 1; length < bytes; line += 1) {
    const text = `${String(line).padStart(3, '0')}: The quick brown fox jumps over the lazy dog; a benchmark reads this line.\n`;
    lines.push(text);
    length += text.length;
  }
  return `${lines.join('').slice(0, bytes - 1)}\n`;
}

/**
 * One tree every system serves, so they return the same bytes: a 4 KiB text file (and one more
 * per other size in `sizes`) and a directory of 1,000 small files. The tree is built once, before
 * any server starts, and nothing writes to it afterwards.
 */
export async function createDataset(sizes: readonly number[] = []): Promise<Dataset> {
  // The real path: the servers resolve links in their root, and the reference server is given absolute paths.
  const filesRoot = await realpath(await mkdtemp(join(tmpdir(), 'flotilla-bench-files-')));
  // If the benchmark dies first, its temporary tree must not outlive it.
  const removeOnExit = () => rmSync(filesRoot, { recursive: true, force: true });
  process.once('exit', removeOnExit);
  const served = join(filesRoot, FLOTILLA_TENANT);
  await mkdir(join(served, DIRECTORY_NAME), { recursive: true });
  const documents: Document[] = [];
  for (const bytes of [...new Set([DOCUMENT_BYTES, ...sizes])].sort((a, b) => a - b)) {
    const name = bytes === DOCUMENT_BYTES ? DOCUMENT_NAME : `doc-${bytes}.txt`;
    const text = documentText(bytes);
    await writeFile(join(served, name), text);
    documents.push({ name, bytes, text });
  }
  const entryNames = Array.from(
    { length: DIRECTORY_ENTRIES },
    (_, index) => `entry-${String(index).padStart(4, '0')}.txt`,
  );
  for (const name of entryNames) await writeFile(join(served, DIRECTORY_NAME, name), `${name}\n`);
  return {
    filesRoot,
    served,
    document: documents.find((document) => document.bytes === DOCUMENT_BYTES) as Document,
    documents,
    entryNames,
    async remove() {
      process.removeListener('exit', removeOnExit);
      await rm(filesRoot, { recursive: true, force: true });
    },
  };
}
