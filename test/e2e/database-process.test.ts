import { fileURLToPath } from 'node:url';
import { connectMcpClient, type PostgresInstance, spawnService, startPostgres } from '@flotilla/testkit';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const databaseMain = fileURLToPath(new URL('../../services/database/dist/main.js', import.meta.url));
let postgres: PostgresInstance;

beforeAll(async () => {
  postgres = await startPostgres();
});

afterAll(async () => {
  await postgres?.destroy();
});

describe('the database server as a process', () => {
  it('serves MCP over stdio to a client that spawns it, logging only to stderr', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [databaseMain, '--stdio'],
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: postgres.url, LOG_LEVEL: 'info' },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    const result = await client.callTool({
      name: 'query',
      arguments: { sql: 'SELECT $1::int + 1 AS answer', params: [41] },
    });
    expect(result.structuredContent).toMatchObject({ rows: [{ answer: 42 }], rowCount: 1 });
    await client.close();
    expect(stderr).toContain('"msg":"serving MCP over stdio"');
    expect(stderr).toContain('"event":"audit"');
  });

  it('drains an in-flight call on SIGTERM, turning unready first, and exits 0', async () => {
    const server = await spawnService(databaseMain, {
      AUTH_MODE: 'none',
      DATABASE_URL: postgres.url,
      SHUTDOWN_DELAY_MS: '300',
      LOG_LEVEL: 'info',
    });
    const client = await connectMcpClient(server.mcpUrl);
    const inflight = client.callTool({ name: 'query', arguments: { sql: 'SELECT pg_sleep(1.5), 7 AS done' } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGTERM');
    await expect.poll(async () => (await fetch(`${server.adminUrl}/readyz`)).status, { timeout: 2000 }).toBe(503);
    const result = await inflight;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ rows: [{ done: 7 }] });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stderr()).toContain('"msg":"shutdown complete"');
  });

  it('refuses to start on a bad configuration, naming every problem and no secret', async () => {
    const exited = await spawnService(databaseMain, {
      AUTH_MODE: 'none',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://admin:hunter2@db.internal/prod',
      DB_POOL_MAX: 'many',
    }).then(
      () => 'started',
      (error: Error) => error.message,
    );
    expect(exited).toContain('DB_POOL_MAX');
    expect(exited).toContain('AUTH_MODE=none');
    expect(exited).not.toContain('hunter2');
  });
});
