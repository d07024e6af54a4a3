import { readFileSync } from 'node:fs';
import { type CallToolResult, Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import type { Dataset, Document } from '../dataset.ts';

export const SYSTEM_NAMES = ['flotilla', 'reference', 'flotilla-http', 'floor'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export type Operation = 'read_file' | 'list_directory';

/**
 * How the MCP clients connect: `legacy` is the client's default, the 2025 `initialize` handshake;
 * `auto` probes with `server/discover` first and speaks 2026-07-28 to a server that offers it.
 */
export type Negotiation = 'legacy' | 'auto';

/** One question asked of one system, the way the benchmark times it and the way it checks it. */
export interface Probe {
  readonly operation: Operation;
  /** The tool (or the floor's route) that answers. */
  readonly tool: string;
  /** One call as timed: false for an answer that is a failure (a tool error, an HTTP error); throws on a broken call. */
  call(): Promise<boolean>;
  /**
   * One call whose answer is checked in full: throws unless it is a success holding the whole file
   * or all the names in one page; returns the answer's size in bytes as received.
   */
  check(): Promise<number>;
}

/** One server, started and connected: all the benchmark needs. */
export interface RunningSystem {
  readonly name: SystemName;
  /** One line for the report: what answers, how it was started, and over what. */
  readonly description: string;
  /** What the server says it is, and its package version. */
  readonly serverVersion: string;
  /** The MCP revision negotiated, or what the floor speaks instead. */
  readonly protocolVersion: string;
  /** The process whose CPU time is the server's. */
  readonly pid: number;
  /** read_file (or its equivalent) of one document of the dataset. */
  read(document: Document): Probe;
  /** What answers list_directory here: the reference server has two tools for it. */
  readonly listings: readonly Probe[];
  /** The last few kilobytes the server wrote to stderr, for error messages. */
  outputTail(): string;
  stop(): Promise<void>;
}

/** What every system is started with. */
export interface StartOptions {
  readonly dataset: Dataset;
  /** NODE_OPTIONS for the server, to write a CPU profile. */
  readonly nodeOptions?: string;
  readonly negotiation: Negotiation;
  /** The most calls the benchmark keeps in flight: a server with an in-flight cap must take this many. */
  readonly maxInFlight: number;
}

export const TAIL_BYTES = 8192;
/** The client's default read buffer (10 MiB) holds one 4 MiB answer, which carries the text twice, with little to spare. */
const STDIO_MAX_BUFFER_BYTES = 64 * 1024 * 1024;

/** A connected official client, and what it learnt from the server. */
export interface Connection {
  readonly client: Client;
  readonly tools: readonly string[];
  readonly serverVersion: string;
  readonly protocolVersion: string;
  close(): Promise<void>;
}

function newClient(negotiation: Negotiation): Client {
  return new Client(
    { name: 'flotilla-bench', version: '1.0.0' },
    negotiation === 'auto' ? { versionNegotiation: { mode: 'auto' } } : {},
  );
}

async function connected(client: Client, close: () => Promise<void>): Promise<Connection> {
  // The client's `tools/list` cache is what makes it check each answer against the tool's output
  // schema, as an agent host that listed the tools first does.
  const tools = (await client.listTools()).tools.map((tool) => tool.name);
  const server = client.getServerVersion();
  return {
    client,
    tools,
    serverVersion: `${server?.name ?? 'unknown'} ${server?.version ?? ''}`.trim(),
    protocolVersion: client.getNegotiatedProtocolVersion() ?? 'unknown',
    close,
  };
}

/**
 * Starts a server as a child of this process through the client's own StdioClientTransport and
 * connects one client to it, the same way for every stdio system: the same Node.js binary, the same
 * transport, the same client code and handshake.
 */
export async function connectStdio(
  name: SystemName,
  spawn: { readonly args: string[]; readonly env: Record<string, string> },
  negotiation: Negotiation,
): Promise<Connection & { readonly pid: number; outputTail(): string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: spawn.args,
    env: spawn.env,
    // Kept, not inherited: a server's start-up lines would otherwise land between the figures.
    stderr: 'pipe',
    maxBufferSize: STDIO_MAX_BUFFER_BYTES,
  });
  let tail = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  });
  const client = newClient(negotiation);
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
  const connection = await connected(client, async () => {
    // Closing stdin is the way the stdio servers are told to finish (and to write a CPU profile, if asked).
    await client.close();
    process.removeListener('exit', killOnExit);
  });
  return { ...connection, pid, outputTail: () => tail };
}

/** The official client over Streamable HTTP, as an agent host connects to a deployed server. */
export async function connectHttp(
  name: SystemName,
  url: string,
  headers: Record<string, string>,
  negotiation: Negotiation,
): Promise<Connection> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = newClient(negotiation);
  try {
    await client.connect(transport);
  } catch (error) {
    await transport.close().catch(() => undefined);
    throw new Error(`${name}: could not connect to ${url}: ${(error as Error).message}`);
  }
  return connected(client, () => client.close());
}

export function requireTools(name: SystemName, offered: readonly string[], wanted: readonly string[]): void {
  const missing = wanted.filter((tool) => !offered.includes(tool));
  if (missing.length > 0)
    throw new Error(`${name}: tools/list lacks ${missing.join(', ')} (has ${offered.join(', ')})`);
}

export interface ToolCall {
  readonly name: string;
  readonly arguments: Record<string, unknown>;
}

/** A probe that is one `tools/call` through the official client. */
export function toolProbe(
  client: Client,
  operation: Operation,
  call: ToolCall,
  check: (result: CallToolResult) => void,
): Probe {
  return {
    operation,
    tool: call.name,
    async call() {
      return !(await client.callTool(call)).isError;
    },
    async check() {
      const result = await client.callTool(call);
      check(result);
      return Buffer.byteLength(JSON.stringify(result));
    },
  };
}

export function successOf(name: SystemName, result: CallToolResult): Record<string, unknown> {
  if (result.isError) throw new Error(`${name}: tool error: ${JSON.stringify(result.content).slice(0, 1000)}`);
  const structured = result.structuredContent;
  if (typeof structured !== 'object' || structured === null) {
    throw new Error(`${name}: answer without structuredContent: ${JSON.stringify(result).slice(0, 1000)}`);
  }
  return structured as Record<string, unknown>;
}

export function checkText(name: SystemName, text: string, document: Document): void {
  if (text !== document.text) {
    throw new Error(`${name}: read_file returned ${text.length} characters that differ from ${document.name}`);
  }
}

export function checkNames(name: SystemName, tool: string, names: readonly string[], dataset: Dataset): void {
  const sorted = [...names].sort();
  if (
    sorted.length !== dataset.entryNames.length ||
    sorted.some((entry, index) => entry !== dataset.entryNames[index])
  ) {
    throw new Error(`${name}: ${tool} returned ${names.length} names, not the ${dataset.entryNames.length} expected`);
  }
}

export function packageVersion(packageJson: string): string {
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}
