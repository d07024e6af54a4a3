import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectMcpClient } from '@flotilla/testkit';
import { describe, expect, it, onTestFinished } from 'vitest';

const devFleet = fileURLToPath(new URL('../../scripts/dev-fleet.mjs', import.meta.url));

const SERVERS = ['flotilla-database', 'flotilla-files', 'flotilla-notifications'];

interface Connection {
  url: string;
  headers: Record<string, string>;
}

/** The JSON block printed after a heading line: from its first line `{` to the first line `}`. */
function jsonAfter(stdout: string, heading: string): unknown {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.startsWith(heading));
  expect(start, `no "${heading}" in the output`).toBeGreaterThanOrEqual(0);
  const open = lines.findIndex((line, index) => index > start && line === '{');
  const close = lines.findIndex((line, index) => index > open && line === '}');
  return JSON.parse(lines.slice(open, close + 1).join('\n'));
}

/** A shell command line split into words, double-quoted words kept whole. */
function shellWords(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2] ?? '');
}

/** Each printed client configuration, reduced to where it connects and with which headers. */
function printedConfigurations(stdout: string): Record<string, Record<string, Connection>> {
  const header = (line: string) => {
    const colon = line.indexOf(':');
    return { [line.slice(0, colon).trim()]: line.slice(colon + 1).trim() };
  };
  const commands = stdout.split('\n').filter((line) => line.startsWith('claude mcp add '));
  const claudeCodeCli = Object.fromEntries(
    commands.map((line) => {
      const words = shellWords(line);
      expect(words.slice(0, 5)).toEqual(['claude', 'mcp', 'add', '--transport', 'http']);
      const [name = '', url = '', flag, value = ''] = words.slice(5);
      expect(flag).toBe('--header');
      return [name, { url, headers: header(value) }];
    }),
  );
  const mcpJson = jsonAfter(stdout, 'Claude Code: or put this in .mcp.json') as {
    mcpServers: Record<string, Connection & { type: string }>;
  };
  const vscode = jsonAfter(stdout, 'VS Code: put this in .vscode/mcp.json') as {
    servers: Record<string, Connection & { type: string }>;
  };
  const desktop = jsonAfter(stdout, 'Claude Desktop: merge this into claude_desktop_config.json') as {
    mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
  };
  const http = (entries: Record<string, Connection & { type: string }>) =>
    Object.fromEntries(
      Object.entries(entries).map(([name, entry]) => {
        expect(entry.type).toBe('http');
        return [name, { url: entry.url, headers: entry.headers }];
      }),
    );
  // mcp-remote is not run here (npx would fetch it): its arguments are read the way it reads them, with the
  // header's ${VAR} expanded from the entry's env.
  const bridged = Object.fromEntries(
    Object.entries(desktop.mcpServers).map(([name, entry]) => {
      expect(entry.command).toBe('npx');
      const [yes, bridge, url = '', flag, value = ''] = entry.args;
      expect([yes, bridge, flag]).toEqual(['-y', 'mcp-remote', '--header']);
      const expanded = value.replace(/\$\{(\w+)\}/g, (_, variable: string) => entry.env[variable] ?? '');
      return [name, { url, headers: header(expanded) }];
    }),
  );
  return {
    'Claude Code claude mcp add': claudeCodeCli,
    'Claude Code .mcp.json': http(mcpJson.mcpServers),
    'VS Code .vscode/mcp.json': http(vscode.servers),
    'Claude Desktop claude_desktop_config.json': bridged,
  };
}

/** The tool names the printed fleet catalog gives a server. */
function catalogTools(stdout: string, server: string): string[] {
  const lines = stdout.split('\n');
  const at = lines.findIndex((line) => line.startsWith(`  ${server} `));
  const tools = lines[at + 1]?.match(/^\s+\d+ tools: (.*)$/)?.[1] ?? '';
  return tools.split(', ');
}

/** What `npm start` runs after building: the demo fleet with no external services. */
describe('npm start', () => {
  it('serves the demo database, the workspace and a watched webhook channel to MCP clients configured from what it prints, and stops cleanly', async () => {
    const workspace = await mkdtemp(join(tmpdir(), 'flotilla-npm-start-'));
    onTestFinished(() => rm(workspace, { recursive: true, force: true }));
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
    const fleet = spawn(process.execPath, [devFleet], {
      env: { ...env, PORT: '0', ADMIN_PORT: '0', FILES_ROOT: workspace },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    fleet.stdout.on('data', (chunk) => {
      stdout += String(chunk);
    });
    fleet.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    try {
      const deadline = Date.now() + 45_000;
      while (!stdout.includes('Press Ctrl-C') && fleet.exitCode === null && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(stdout, stderr).toContain('Press Ctrl-C');
      const printed = printedConfigurations(stdout);
      // Every printed configuration, for every server, reaches a running server that lists tools with its credential.
      for (const [client, connections] of Object.entries(printed)) {
        expect(Object.keys(connections).sort(), client).toEqual(SERVERS);
        for (const [name, connection] of Object.entries(connections)) {
          const listed = await connectMcpClient(connection.url, { headers: connection.headers });
          try {
            const { tools } = await listed.listTools();
            expect(
              tools.map((tool) => tool.name),
              `${client} ${name}`,
            ).toEqual(catalogTools(stdout, name.replace('flotilla-', '')));
          } finally {
            await listed.close();
          }
        }
      }
      const servers = printed['Claude Code .mcp.json'] ?? {};
      const notify = await connectMcpClient(servers['flotilla-notifications']?.url ?? '', {
        headers: servers['flotilla-notifications']?.headers,
      });
      try {
        const sent = (
          await notify.callTool({
            name: 'send_notification',
            arguments: {
              channel: 'local-webhook',
              body: 'hello from the npm start test',
              idempotencyKey: 'npm-start-1',
            },
          })
        ).structuredContent as { id: string };
        const deadline = Date.now() + 15_000;
        while (!stdout.includes('hello from the npm start test') && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(stdout).toContain(`[local-webhook] ${sent.id} (signature valid)`);
        const status = (await notify.callTool({ name: 'get_notification', arguments: { id: sent.id } }))
          .structuredContent as { status: string };
        expect(status.status).toBe('delivered');
      } finally {
        await notify.close();
      }
      const server = servers['flotilla-database'] as Connection;
      const files = await connectMcpClient(servers['flotilla-files']?.url ?? '', {
        headers: servers['flotilla-files']?.headers,
      });
      try {
        const listing = (await files.callTool({ name: 'list_directory', arguments: { path: '' } }))
          .structuredContent as {
          entries: { name: string }[];
        };
        expect(listing.entries.map((entry) => entry.name)).toEqual(['README.md', 'notes']);
        const edited = await files.callTool({
          name: 'edit_file',
          arguments: {
            path: 'notes/todo.md',
            edits: [{ oldText: '- [ ] connect an agent', newText: '- [x] connect an agent' }],
          },
        });
        expect(edited.isError).toBeFalsy();
        expect(await readFile(join(workspace, 'local/notes/todo.md'), 'utf8')).toContain('- [x] connect an agent');
      } finally {
        await files.close();
      }
      const client = await connectMcpClient(server.url, { headers: server.headers });
      try {
        const tables = (await client.callTool({ name: 'list_tables', arguments: {} })).structuredContent as {
          tables: { name: string; comment: string }[];
        };
        expect(tables.tables.map((table) => table.name)).toEqual(['customers', 'order_items', 'orders', 'products']);
        const result = (
          await client.callTool({
            name: 'query',
            arguments: {
              sql: 'SELECT c.country, count(*)::int AS orders FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.country = $1 GROUP BY c.country',
              params: ['NL'],
            },
          })
        ).structuredContent as { rows: { country: string; orders: number }[] };
        expect(result.rows).toEqual([{ country: 'NL', orders: expect.any(Number) }]);
        expect(result.rows[0]?.orders).toBeGreaterThan(0);
        const placed = await client.callTool({
          name: 'insert_rows',
          arguments: { table: 'orders', rows: [{ customer_id: 1 }], idempotencyKey: 'demo-order-1' },
        });
        expect(placed.isError).toBeFalsy();
      } finally {
        await client.close();
      }
    } finally {
      fleet.kill('SIGINT');
      const [code] = await once(fleet, 'exit');
      expect(code, stderr).toBe(0);
    }
  });
});
