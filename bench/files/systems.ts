import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CallToolResult, Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { type Dataset, DIRECTORY_ENTRIES, DIRECTORY_NAME, DOCUMENT_NAME } from './dataset.ts';

export const SYSTEM_NAMES = ['flotilla', 'reference'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export const FLOTILLA_MAIN = fileURLToPath(new URL('../../services/files/dist/main.js', import.meta.url));
const REFERENCE_PACKAGE = '@modelcontextprotocol/server-filesystem';
const TAIL_BYTES = 8192;

export type Operation = 'read_file' | 'list_directory';

export interface ToolCall {
  readonly name: string;
  readonly arguments: Record<string, unknown>;
}

/** One tool call that answers one of the benchmark's two questions, and how to tell a full answer. */
export interface Probe {
  readonly operation: Operation;
  readonly call: ToolCall;
  /** Throws unless `result` is a success holding the whole file, or all the names in one page. */
  check(result: CallToolResult): void;
}

/** One server, started over stdio and connected through the official client: all the benchmark needs. */
export interface RunningSystem {
  readonly name: SystemName;
  /** One line for the report: what answers, and how it was started. */
  readonly description: string;
  /** What the server says it is in `initialize`, and its package version. */
  readonly serverVersion: string;
  readonly protocolVersion: string;
  readonly client: Client;
  readonly pid: number;
  /** What is measured on this system, in this order. */
  readonly probes: readonly Probe[];
  /** The last few kilobytes the server wrote to stderr, for error messages. */
  outputTail(): string;
  stop(): Promise<void>;
}

interface Spawn {
  readonly args: string[];
  readonly env: Record<string, string>;
}

/**
 * Starts a server as a child of this process through the client's own StdioClientTransport and
 * connects one client to it, the same way for both systems: the same Node.js binary, the same
 * transport, the same client code, the plain `initialize` handshake (the client's default).
 */
async function connect(name: SystemName, spawn: Spawn) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: spawn.args,
    env: spawn.env,
    // Kept, not inherited: a server's start-up lines would otherwise land between the figures.
    stderr: 'pipe',
  });
  let tail = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  });
  const client = new Client({ name: 'flotilla-bench', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    await transport.close().catch(() => undefined);
    throw new Error(`${name}: could not connect over stdio: ${(error as Error).message}\n${tail}`);
  }
  const pid = transport.pid ?? 0;
  // If the benchmark dies first, the server must not outlive it.
  const killOnExit = () => {
    try {
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  process.once('exit', killOnExit);
  // The client's `tools/list` cache is what makes it check each answer against the tool's output
  // schema, as an agent host that listed the tools first does.
  const tools = (await client.listTools()).tools.map((tool) => tool.name);
  const server = client.getServerVersion();
  return {
    client,
    pid,
    tools,
    serverVersion: `${server?.name ?? 'unknown'} ${server?.version ?? ''}`.trim(),
    protocolVersion: client.getNegotiatedProtocolVersion() ?? 'unknown',
    outputTail: () => tail,
    async stop() {
      // Closing stdin is the way both servers are told to finish (and to write a CPU profile, if asked).
      await client.close();
      process.removeListener('exit', killOnExit);
    },
  };
}

function requireTools(name: SystemName, offered: readonly string[], wanted: readonly string[]): void {
  const missing = wanted.filter((tool) => !offered.includes(tool));
  if (missing.length > 0)
    throw new Error(`${name}: tools/list lacks ${missing.join(', ')} (has ${offered.join(', ')})`);
}

function successOf(name: SystemName, result: CallToolResult): Record<string, unknown> {
  if (result.isError) throw new Error(`${name}: tool error: ${JSON.stringify(result.content).slice(0, 1000)}`);
  const structured = result.structuredContent;
  if (typeof structured !== 'object' || structured === null) {
    throw new Error(`${name}: answer without structuredContent: ${JSON.stringify(result).slice(0, 1000)}`);
  }
  return structured as Record<string, unknown>;
}

function checkText(name: SystemName, text: string, dataset: Dataset): void {
  if (text !== dataset.documentText) {
    throw new Error(`${name}: read_file returned ${text.length} characters that differ from ${DOCUMENT_NAME}`);
  }
}

function checkNames(name: SystemName, tool: string, names: readonly string[], dataset: Dataset): void {
  const sorted = [...names].sort();
  if (
    sorted.length !== dataset.entryNames.length ||
    sorted.some((entry, index) => entry !== dataset.entryNames[index])
  ) {
    throw new Error(
      `${name}: ${tool} returned ${names.length} names, not the ${dataset.entryNames.length} of ${DIRECTORY_NAME}/`,
    );
  }
}

function packageVersion(packageJson: string): string {
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

/**
 * Flotilla's files server as a local agent host runs it: `--stdio`, no auth (stdio is the user's own
 * child process), the tenant `local`, no Redis, and logs at warn, so no per-call audit line is written.
 */
export async function startFlotilla(dataset: Dataset, nodeOptions?: string): Promise<RunningSystem> {
  const env: Record<string, string> = { FILES_ROOT: dataset.filesRoot, LOG_LEVEL: 'warn' };
  if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
  const connection = await connect('flotilla', { args: [FLOTILLA_MAIN, '--stdio'], env });
  try {
    requireTools('flotilla', connection.tools, ['read_file', 'list_directory']);
  } catch (error) {
    await connection.stop();
    throw error;
  }
  const version = packageVersion(fileURLToPath(new URL('../../services/files/package.json', import.meta.url)));
  return {
    name: 'flotilla',
    description:
      'Flotilla files server (`services/files/dist/main.js --stdio`), tools `read_file` and `list_directory` ' +
      `(limit ${DIRECTORY_ENTRIES}), relative paths, LOG_LEVEL=warn, no Redis`,
    serverVersion: `${connection.serverVersion} (@flotilla/files ${version})`,
    protocolVersion: connection.protocolVersion,
    client: connection.client,
    pid: connection.pid,
    probes: [
      {
        operation: 'read_file',
        call: { name: 'read_file', arguments: { path: DOCUMENT_NAME } },
        check(result) {
          const answer = successOf('flotilla', result);
          if (answer.encoding !== 'utf8' || answer.eof !== true) {
            throw new Error(`flotilla: read_file did not return the whole file as text: ${JSON.stringify(answer)}`);
          }
          checkText('flotilla', String(answer.content), dataset);
        },
      },
      {
        operation: 'list_directory',
        // Its default page is 200 entries; one page of all 1,000 is what the reference server returns.
        call: { name: 'list_directory', arguments: { path: DIRECTORY_NAME, limit: DIRECTORY_ENTRIES } },
        check(result) {
          const answer = successOf('flotilla', result) as { entries?: { name: string }[]; nextCursor?: string | null };
          if (answer.nextCursor !== null) throw new Error('flotilla: list_directory returned more than one page');
          const names = (answer.entries ?? []).map((entry) => entry.name);
          checkNames('flotilla', 'list_directory', names, dataset);
        },
      },
    ],
    outputTail: connection.outputTail,
    stop: connection.stop,
  };
}

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
 * (`read_file` is the deprecated alias of the same handler).
 */
export async function startReference(dataset: Dataset, nodeOptions?: string): Promise<RunningSystem> {
  const entry = referenceEntry();
  const env: Record<string, string> = {};
  if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
  const connection = await connect('reference', { args: [entry.path, dataset.served], env });
  const directory = join(dataset.served, DIRECTORY_NAME);
  try {
    requireTools('reference', connection.tools, ['read_text_file', 'list_directory', 'list_directory_with_sizes']);
  } catch (error) {
    await connection.stop();
    throw error;
  }
  return {
    name: 'reference',
    description:
      `\`${REFERENCE_PACKAGE}\` ${entry.version}, tools \`read_text_file\`, \`list_directory\` and ` +
      '`list_directory_with_sizes`, ' +
      'absolute paths, the served directory as its allowed directory',
    serverVersion: `${connection.serverVersion} (${REFERENCE_PACKAGE} ${entry.version})`,
    protocolVersion: connection.protocolVersion,
    client: connection.client,
    pid: connection.pid,
    probes: [
      {
        operation: 'read_file',
        call: { name: 'read_text_file', arguments: { path: join(dataset.served, DOCUMENT_NAME) } },
        check(result) {
          checkText('reference', String(successOf('reference', result).content), dataset);
        },
      },
      {
        operation: 'list_directory',
        call: { name: 'list_directory', arguments: { path: directory } },
        check(result) {
          // One line per entry: "[FILE] name" or "[DIR] name".
          const names = String(successOf('reference', result).content)
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => line.replace(/^\[(?:FILE|DIR)\] /, ''));
          checkNames('reference', 'list_directory', names, dataset);
        },
      },
      {
        // Flotilla's listing carries each entry's size and modification time, so it stats every
        // entry; this tool of the reference server does too (one fs.stat per entry, all at once),
        // which makes it the same-work comparison beside the names-only list_directory.
        operation: 'list_directory',
        call: { name: 'list_directory_with_sizes', arguments: { path: directory } },
        check(result) {
          // "[FILE] name<padding> size" per entry, then an empty line and a summary.
          const text = String(successOf('reference', result).content);
          const names = text
            .slice(0, text.indexOf('\n\n'))
            .split('\n')
            .map((line) => line.replace(/^\[(?:FILE|DIR)\] /, '').split(' ')[0] ?? '');
          checkNames('reference', 'list_directory_with_sizes', names, dataset);
        },
      },
    ],
    outputTail: connection.outputTail,
    stop: connection.stop,
  };
}
