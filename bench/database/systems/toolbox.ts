import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '@flotilla/testkit';
import { startChildServer } from '../child-server.ts';
import { looksLikeToolSuccess, mcpHeaders, toolResultOf, toolsCallBody } from '../mcp.ts';
import { answers } from '../net.ts';
import type { Row, RunningSystem, SystemContext } from './system.ts';

const TOOL = 'orders_by_customer';

/** The Go binary @toolbox-sdk/server ships, found the way its own bin/run.js finds it. */
export function toolboxBinary(): string {
  const pkg = `@toolbox-sdk/server-${process.platform}-${process.arch}`;
  const packageJson = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
  return join(dirname(packageJson), 'bin', process.platform === 'win32' ? 'toolbox.exe' : 'toolbox');
}

export function toolboxVersion(): string {
  // It prints "toolbox version 1.12.0+binary.linux.amd64.<commit>".
  return execFileSync(toolboxBinary(), ['--version'], { encoding: 'utf8' })
    .trim()
    .replace(/^toolbox version /, '');
}

/**
 * The configuration in Toolbox's flat format: one postgres source as the same role, with the same
 * pool size (pgx reads pool_max_conns from the connection string), and one postgres-sql tool
 * running the same statement. YAML accepts JSON, so each document is written as JSON.
 */
function toolsYaml(context: SystemContext): string {
  const source = {
    kind: 'source',
    name: 'bench-postgres',
    type: 'postgres',
    host: context.postgres.host,
    port: String(context.postgres.port),
    database: context.postgres.database,
    user: context.runtimeUser,
    password: context.runtimePassword,
    queryParams: { pool_max_conns: String(context.poolSize) },
  };
  const tool = {
    kind: 'tool',
    name: TOOL,
    type: 'postgres-sql',
    source: source.name,
    description: 'The first ten orders of one customer.',
    parameters: [{ name: 'customer_id', type: 'integer', description: 'The customer.' }],
    statement: context.statement,
  };
  return `${JSON.stringify(source, null, 2)}\n---\n${JSON.stringify(tool, null, 2)}\n`;
}

/**
 * MCP Toolbox for Databases serving an equivalent postgres-sql tool. It runs with only PATH in its
 * environment and its only outbound call (the new-version check) turned off; telemetry is off
 * unless a --telemetry-* flag asks for it. Host and Origin are restricted like Flotilla's defaults.
 */
export async function startToolbox(context: SystemContext): Promise<RunningSystem> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-toolbox-'));
  // It holds the role's password: removed on stop, or at exit if the benchmark dies first.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  try {
    const config = join(dir, 'tools.yaml');
    await writeFile(config, toolsYaml(context));
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const server = await startChildServer({
      name: 'MCP Toolbox',
      command: toolboxBinary(),
      args: [
        '--config',
        config,
        '--address',
        '127.0.0.1',
        '--port',
        String(port),
        '--disable-version-check',
        '--disable-reload',
        '--allowed-hosts',
        '127.0.0.1',
        '--allowed-origins',
        baseUrl,
      ],
      env: {},
      cwd: dir,
      ready: () => answers(`${baseUrl}/`),
    });
    return {
      name: 'toolbox',
      description: `MCP Toolbox for Databases, \`${TOOL}\` postgres-sql tool: MCP Streamable HTTP, no auth`,
      url: `${baseUrl}/mcp`,
      headers: mcpHeaders(TOOL, context.protocol),
      pids: [server.pid],
      requestBody: (customerId) => toolsCallBody(TOOL, { customer_id: customerId }, context.protocol),
      // One text item per row, each a JSON object.
      rowsOf: (contentType, body) =>
        (toolResultOf(contentType, body).content ?? []).map((item) => JSON.parse(item.text ?? 'null') as Row),
      isSuccess: looksLikeToolSuccess,
      async stop() {
        await server.stop();
        removeDir();
        process.removeListener('exit', removeDir);
      },
    };
  } catch (error) {
    removeDir();
    process.removeListener('exit', removeDir);
    throw error;
  }
}
