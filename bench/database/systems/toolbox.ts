import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '@flotilla/testkit';
import { startChildServer } from '../../shared/child-server.ts';
import { answers } from '../../shared/net.ts';
import { looksLikeToolSuccess, mcpHeaders, toolResultOf, toolsCallBody } from '../mcp.ts';
import type { Row, RunningSystem, SystemContext } from './system.ts';

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
 * pool size (pgx reads pool_max_conns from the connection string), and one postgres-sql tool per
 * statement (a Toolbox tool runs one fixed statement). YAML accepts JSON, so each document is written as JSON.
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
  const tools = context.queries.map((query) => ({
    kind: 'tool',
    name: query.name,
    type: 'postgres-sql',
    source: source.name,
    description: query.description,
    parameters: [{ name: 'customer_id', type: 'integer', description: 'The (first) customer.' }],
    statement: query.statement,
  }));
  return `${[source, ...tools].map((document) => JSON.stringify(document, null, 2)).join('\n---\n')}\n`;
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
    const tools = context.queries.map((query) => `\`${query.name}\``).join(', ');
    return {
      name: 'toolbox',
      description: `MCP Toolbox for Databases, ${tools} postgres-sql tool${context.queries.length > 1 ? 's' : ''}: MCP Streamable HTTP, no auth`,
      url: `${baseUrl}/mcp`,
      pids: [server.pid],
      request: (query, customerId) => ({
        headers: mcpHeaders(query.name, context.protocol),
        body: toolsCallBody(query.name, { customer_id: customerId }, context.protocol),
      }),
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
