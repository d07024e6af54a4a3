import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DIRECTORY_NAME } from '../dataset.ts';
import {
  checkNames,
  checkText,
  connectStdio,
  type RunningSystem,
  requireTools,
  type StartOptions,
  successOf,
  toolProbe,
} from './system.ts';

export const REFERENCE_PACKAGE = '@modelcontextprotocol/server-filesystem';

/** The reference server's entry point, found from its package.json `bin` the way npx would. */
function referenceEntry(): { path: string; version: string } {
  const packageJson = createRequire(import.meta.url).resolve(`${REFERENCE_PACKAGE}/package.json`);
  const manifest = JSON.parse(readFileSync(packageJson, 'utf8')) as {
    version: string;
    bin: string | Record<string, string>;
  };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : Object.values(manifest.bin)[0];
  if (!bin) throw new Error(`${REFERENCE_PACKAGE} has no bin entry`);
  return { path: join(dirname(packageJson), bin), version: manifest.version };
}

/**
 * The official reference server, `@modelcontextprotocol/server-filesystem`, with the served
 * directory as its one allowed directory. It takes absolute paths; `read_text_file` is its text read
 * (`read_file` is the deprecated alias of the same handler), and it reads whole files, whatever their size.
 */
export async function startReference(options: StartOptions): Promise<RunningSystem> {
  const { dataset } = options;
  const entry = referenceEntry();
  const env: Record<string, string> = options.nodeOptions ? { NODE_OPTIONS: options.nodeOptions } : {};
  const connection = await connectStdio('reference', { args: [entry.path, dataset.served], env }, options.negotiation);
  const directory = join(dataset.served, DIRECTORY_NAME);
  try {
    requireTools('reference', connection.tools, ['read_text_file', 'list_directory', 'list_directory_with_sizes']);
  } catch (error) {
    await connection.close();
    throw error;
  }
  const { client } = connection;
  return {
    name: 'reference',
    description:
      `\`${REFERENCE_PACKAGE}\` ${entry.version}, tools \`read_text_file\`, \`list_directory\` and ` +
      '`list_directory_with_sizes`, ' +
      'absolute paths, the served directory as its allowed directory',
    serverVersion: `${connection.serverVersion} (${REFERENCE_PACKAGE} ${entry.version})`,
    protocolVersion: connection.protocolVersion,
    pid: connection.pid,
    read: (document) =>
      toolProbe(
        client,
        'read_file',
        { name: 'read_text_file', arguments: { path: join(dataset.served, document.name) } },
        (result) => checkText('reference', String(successOf('reference', result).content), document),
      ),
    listings: [
      toolProbe(client, 'list_directory', { name: 'list_directory', arguments: { path: directory } }, (result) => {
        // One line per entry: "[FILE] name" or "[DIR] name".
        const names = String(successOf('reference', result).content)
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => line.replace(/^\[(?:FILE|DIR)\] /, ''));
        checkNames('reference', 'list_directory', names, dataset);
      }),
      // Flotilla's listing carries each entry's size and modification time, so it stats every
      // entry; this tool of the reference server does too (one fs.stat per entry, all at once),
      // which makes it the same-work comparison beside the names-only list_directory.
      toolProbe(
        client,
        'list_directory',
        { name: 'list_directory_with_sizes', arguments: { path: directory } },
        (result) => {
          // "[FILE] name<padding> size" per entry, then an empty line and a summary.
          const text = String(successOf('reference', result).content);
          const names = text
            .slice(0, text.indexOf('\n\n'))
            .split('\n')
            .map((line) => line.replace(/^\[(?:FILE|DIR)\] /, '').split(' ')[0] ?? '');
          checkNames('reference', 'list_directory_with_sizes', names, dataset);
        },
      ),
    ],
    outputTail: connection.outputTail,
    stop: connection.close,
  };
}
