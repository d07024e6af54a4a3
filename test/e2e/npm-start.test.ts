import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectMcpClient } from '@flotilla/testkit';
import { describe, expect, it, onTestFinished } from 'vitest';

const devFleet = fileURLToPath(new URL('../../scripts/dev-fleet.mjs', import.meta.url));

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
      const json = stdout.slice(stdout.indexOf('{'), stdout.lastIndexOf('}') + 1);
      const servers = JSON.parse(json).mcpServers as Record<string, { url: string; headers: Record<string, string> }>;
      expect(Object.keys(servers).sort()).toEqual(['flotilla-database', 'flotilla-files', 'flotilla-notifications']);
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
      const server = servers['flotilla-database'] as { url: string; headers: Record<string, string> };
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
