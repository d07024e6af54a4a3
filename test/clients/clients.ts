import { connectMcpClient, type ToolOutcome } from '@flotilla/testkit';
import { Client as Client2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as Stdio2 } from '@modelcontextprotocol/client/stdio';
import { Client as Client1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as Stdio1 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as Http1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION as SDK1_PROTOCOL } from '@modelcontextprotocol/sdk/types.js';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';

// Every way the matrix talks to a server, behind one small interface: the official SDK's 1.x client (what most MCP
// hosts ship), its 2.x client (what the rest of the tests use), and raw JSON-RPC as a 2025-06-18 client without
// sessions would send it.

export type ClientKind = 'sdk-1.x' | 'sdk-2.x' | 'raw-2025-06-18';
export type TransportKind = 'http' | 'stdio';

export interface ListedTool {
  name: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
}

export interface MatrixClient {
  /** The protocol revision the session runs (reported by the server, or sent by the raw client). */
  readonly protocolVersion: string | undefined;
  listTools(): Promise<ListedTool[]>;
  callTool(name: string, args: Record<string, unknown>): Promise<ToolOutcome>;
  close(): Promise<void>;
}

/** How to reach one server: its HTTP endpoint and credential, or the command a client spawns for stdio. */
export interface Target {
  url?: string;
  token?: string;
  stdio?: { command: string; args: string[]; env: Record<string, string> };
  /** HTTP only: spread the requests over these endpoints in turn, recording which one answered each method. */
  roundRobin?: { urls: string[]; served: { url: string; method: string }[] };
}

export const CLIENT_KINDS: readonly { kind: ClientKind; transports: readonly TransportKind[] }[] = [
  { kind: 'sdk-1.x', transports: ['http', 'stdio'] },
  { kind: 'sdk-2.x', transports: ['http', 'stdio'] },
  // A hand-written client has no process to spawn: raw JSON-RPC is an HTTP client.
  { kind: 'raw-2025-06-18', transports: ['http'] },
];

export function connect(kind: ClientKind, transport: TransportKind, target: Target): Promise<MatrixClient> {
  if (kind === 'raw-2025-06-18') return connectRaw(target);
  return kind === 'sdk-1.x' ? connectSdk1(transport, target) : connectSdk2(transport, target);
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the target has no ${what}`);
  return value;
}

async function connectSdk1(transport: TransportKind, target: Target): Promise<MatrixClient> {
  const client = new Client1({ name: 'flotilla-matrix-sdk1', version: '1.0.0' });
  if (transport === 'stdio') {
    const { command, args, env } = required(target.stdio, 'stdio command');
    await client.connect(new Stdio1({ command, args, env, stderr: 'ignore' }));
  } else {
    const url = required(target.url, 'URL');
    await client.connect(
      new Http1(new URL(url), {
        requestInit: { headers: target.token ? { Authorization: `Bearer ${target.token}` } : {} },
        ...(target.roundRobin ? { fetch: roundRobinFetch(target.roundRobin) } : {}),
      }),
    );
  }
  return {
    protocolVersion: SDK1_PROTOCOL,
    listTools: async () => (await client.listTools()).tools as ListedTool[],
    // The 1.x client checks structuredContent against the tool's outputSchema itself and throws when it does not fit.
    callTool: async (name, args) => (await client.callTool({ name, arguments: args })) as ToolOutcome,
    close: () => client.close(),
  };
}

async function connectSdk2(transport: TransportKind, target: Target): Promise<MatrixClient> {
  let client: Client2;
  if (transport === 'stdio') {
    const { command, args, env } = required(target.stdio, 'stdio command');
    client = new Client2({ name: 'flotilla-matrix-sdk2', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new Stdio2({ command, args, env, stderr: 'ignore' }));
  } else {
    client = await connectMcpClient(required(target.url, 'URL'), target.token ? { token: target.token } : {});
  }
  return {
    get protocolVersion() {
      return client.getNegotiatedProtocolVersion();
    },
    listTools: async () => (await client.listTools()).tools as ListedTool[],
    callTool: async (name, args) => (await client.callTool({ name, arguments: args })) as ToolOutcome,
    close: () => client.close(),
  };
}

function roundRobinFetch(plan: NonNullable<Target['roundRobin']>) {
  let turn = 0;
  return (_input: string | URL | Request, init?: RequestInit) => {
    const url = plan.urls[turn++ % plan.urls.length] as string;
    let method = init?.method ?? 'GET';
    if (typeof init?.body === 'string') method = (JSON.parse(init.body) as { method?: string }).method ?? 'response';
    plan.served.push({ url, method });
    return fetch(url, init);
  };
}

const RAW_PROTOCOL = '2025-06-18';

/** JSON-RPC over plain HTTP, as a 2025-06-18 client without sessions sends it: no Mcp-Session-Id, ever. */
async function connectRaw(target: Target): Promise<MatrixClient> {
  const url = required(target.url, 'URL');
  let nextId = 1;
  const post = async (message: Record<string, unknown>, initialized: boolean) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(initialized ? { 'mcp-protocol-version': RAW_PROTOCOL } : {}),
        ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
      },
      body: JSON.stringify(message),
    });
    if (response.headers.get('mcp-session-id')) throw new Error('a stateless server must not hand out a session id');
    return response;
  };
  const request = async (method: string, params: Record<string, unknown>, initialized = true) => {
    const id = nextId++;
    const response = await post({ jsonrpc: '2.0', id, method, params }, initialized);
    if (response.status !== 200) throw new Error(`${method}: HTTP ${response.status} ${await response.text()}`);
    const message = await readJsonRpc(response, id);
    if (message.error) throw new Error(`${method}: JSON-RPC error ${JSON.stringify(message.error)}`);
    return message.result as Record<string, unknown>;
  };
  const init = await request(
    'initialize',
    { protocolVersion: RAW_PROTOCOL, capabilities: {}, clientInfo: { name: 'flotilla-matrix-raw', version: '1.0.0' } },
    false,
  );
  const accepted = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, true);
  if (accepted.status !== 202) throw new Error(`notifications/initialized: HTTP ${accepted.status}`);
  return {
    protocolVersion: init.protocolVersion as string,
    listTools: async () => (await request('tools/list', {})).tools as ListedTool[],
    callTool: async (name, args) => (await request('tools/call', { name, arguments: args })) as ToolOutcome,
    close: async () => undefined,
  };
}

/** The response to request `id`, whether the server answered with JSON or with an event stream. */
interface JsonRpcAnswer {
  id?: unknown;
  result?: unknown;
  error?: unknown;
}

async function readJsonRpc(response: Response, id: number): Promise<JsonRpcAnswer> {
  const body = await response.text();
  if ((response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    for (const event of body.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (!data) continue;
      const message = JSON.parse(data) as JsonRpcAnswer;
      if (message.id === id) return message;
    }
    throw new Error(`no answer to request ${id} in the event stream: ${body.slice(0, 500)}`);
  }
  return JSON.parse(body);
}

// Configured as the 1.x SDK client configures its own (AjvJsonSchemaValidator), so this checks what it checks.
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ strict: false, validateFormats: true, validateSchema: false, allErrors: true }));
const validators = new WeakMap<object, ValidateFunction>();

/** Ajv's complaints about `value` against a tool's outputSchema: empty when it fits. */
export function outputSchemaErrors(tool: ListedTool, value: unknown): string[] {
  if (!tool.outputSchema) return [];
  let validate = validators.get(tool.outputSchema);
  if (!validate) {
    validate = ajv.compile(tool.outputSchema);
    validators.set(tool.outputSchema, validate);
  }
  return validate(value) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message}`);
}
