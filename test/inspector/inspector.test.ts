import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { ServiceProcess } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, SERVER_NAMES, type ServerName, startFleet } from '../clients/fleet.js';

// A real client from outside this repository: the MCP Inspector's CLI (@modelcontextprotocol/inspector-cli, which
// speaks through the official SDK's 1.x client), spawned as its own process per call exactly as a user types it:
//
//   mcp-inspector-cli --cli http://…/mcp --transport http --header "Authorization: Bearer …" \
//     --method tools/call --tool-name query --tool-arg "sql=SELECT 42 AS answer"
//
// For every server it lists tools, calls a read tool and reads its result, and calls a tool with a bad argument and
// gets the servers' tool error: isError, the code in _meta["io.github.flotilla/error"].

const ERROR_KEY = 'io.github.flotilla/error';

const pkgDir = dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/inspector-cli/package.json'));
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const bin = join(pkgDir, pkg.bin['mcp-inspector-cli'] as string);

interface Inspected {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the Inspector CLI's bin. Its `--cli` launcher starts build/index.js with whatever `node` is first on PATH, so
 * the pinned Node goes first; and index.js picks the package.json it reports as client identity by probing
 * `../package.json` relative to the working directory, so it runs from the package's build folder.
 */
async function inspect(args: string[]): Promise<Inspected> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, '--cli', ...args], {
      cwd: join(pkgDir, 'build'),
      env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error) };
  }
}

/** The answer of one method, as the JSON the CLI prints on stdout. */
async function inspectJson(args: string[]): Promise<Record<string, unknown>> {
  const run = await inspect(args);
  expect(run.code, `inspector exited ${run.code}: ${run.stderr}`).toBe(0);
  return JSON.parse(run.stdout);
}

interface Tool {
  name: string;
  inputSchema: { type: string };
  outputSchema?: { type: string };
  annotations?: Record<string, unknown>;
}
interface ToolResult {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  _meta?: Record<string, { code: string; message: string; retryable: boolean; errorId: string }>;
}

const toolArgs = (args: Record<string, string>) =>
  Object.entries(args).flatMap(([key, value]) => ['--tool-arg', `${key}=${value}`]);

const CASES: Record<
  ServerName,
  {
    tools: string[];
    read: { tool: string; args: Record<string, string>; check(structured: Record<string, unknown>): void };
    bad: { tool: string; args: Record<string, string>; code: string };
  }
> = {
  database: {
    tools: [
      'list_schemas',
      'list_tables',
      'describe_table',
      'query',
      'explain',
      'insert_rows',
      'update_rows',
      'delete_rows',
    ],
    read: {
      tool: 'query',
      args: { sql: 'SELECT 42 AS answer' },
      check: (structured) =>
        expect(structured).toMatchObject({ rows: [{ answer: 42 }], rowCount: 1, truncated: false }),
    },
    // maxRows must be at least 1; the CLI turns "0" into a number from the tool's inputSchema.
    bad: { tool: 'query', args: { sql: 'SELECT 1', maxRows: '0' }, code: 'INVALID_ARGUMENT' },
  },
  files: {
    tools: [
      'list_directory',
      'stat',
      'read_file',
      'search_files',
      'grep',
      'write_file',
      'edit_file',
      'make_directory',
      'move',
      'delete',
    ],
    read: {
      tool: 'read_file',
      args: { path: 'README.md' },
      check: (structured) => expect(String(structured.content)).toContain('# Matrix workspace'),
    },
    bad: { tool: 'read_file', args: { path: 'README.md', offset: '-1' }, code: 'INVALID_ARGUMENT' },
  },
  notifications: {
    tools: ['list_channels', 'send_notification', 'get_notification', 'list_notifications', 'cancel_notification'],
    read: {
      tool: 'list_channels',
      args: {},
      check: (structured) =>
        expect((structured.channels as { name: string }[]).map((channel) => channel.name)).toEqual(
          expect.arrayContaining(['ops-webhook', 'team-email']),
        ),
    },
    // idempotencyKey is required.
    bad: { tool: 'send_notification', args: { channel: 'ops-webhook', body: 'no key' }, code: 'INVALID_ARGUMENT' },
  },
};

let fleet: Fleet;
const servers = new Map<ServerName, ServiceProcess>();

beforeAll(async () => {
  fleet = await startFleet();
  for (const server of SERVER_NAMES) servers.set(server, await fleet.spawnHttp(server));
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

describe.each(SERVER_NAMES)('the %s server, driven by the MCP Inspector CLI over Streamable HTTP', (server) => {
  const cases = CASES[server];
  const target = () => [
    servers.get(server)?.mcpUrl as string,
    '--transport',
    'http',
    '--header',
    `Authorization: Bearer ${fleet.apiKey}`,
  ];

  it('lists the tools, each with its schemas and annotations', async () => {
    const { tools } = (await inspectJson([...target(), '--method', 'tools/list'])) as { tools: Tool[] };
    expect(tools.map((tool) => tool.name).sort()).toEqual([...cases.tools].sort());
    for (const tool of tools) {
      expect(tool.inputSchema.type, tool.name).toBe('object');
      expect(tool.outputSchema?.type, tool.name).toBe('object');
      expect(Object.keys(tool.annotations ?? {}), tool.name).toEqual(
        expect.arrayContaining(['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint']),
      );
    }
  });

  it(`calls ${cases.read.tool} and reads its result`, async () => {
    const result = (await inspectJson([
      ...target(),
      '--method',
      'tools/call',
      '--tool-name',
      cases.read.tool,
      ...toolArgs(cases.read.args),
    ])) as unknown as ToolResult;
    expect(result.isError ?? false).toBe(false);
    cases.read.check(result.structuredContent ?? {});
    // The same data as text, for clients that show only content.
    const text = result.content.find((item) => item.type === 'text')?.text ?? '';
    expect(JSON.parse(text)).toEqual(result.structuredContent);
  });

  it(`calls ${cases.bad.tool} with a bad argument and gets the tool error ${cases.bad.code}`, async () => {
    const result = (await inspectJson([
      ...target(),
      '--method',
      'tools/call',
      '--tool-name',
      cases.bad.tool,
      ...toolArgs(cases.bad.args),
    ])) as unknown as ToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    const error = result._meta?.[ERROR_KEY];
    expect(error).toMatchObject({ code: cases.bad.code, retryable: false });
    expect(error?.errorId).toMatch(/\S/);
    expect(result.content[0]?.text).toContain(`${cases.bad.code}:`);
  });

  it('is refused without the bearer key, so the header above is what authenticates it', async () => {
    const run = await inspect([servers.get(server)?.mcpUrl as string, '--transport', 'http', '--method', 'tools/list']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/401|Unauthorized/i);
  });
});
