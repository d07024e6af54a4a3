import { fileURLToPath } from 'node:url';
import { freePort } from '@flotilla/testkit';
import { startChildServer } from '../../shared/child-server.ts';
import { answers } from '../../shared/net.ts';
import type { Row, RunningSystem, SystemContext } from './system.ts';

const FLOOR_SERVER = fileURLToPath(new URL('../floor-server.ts', import.meta.url));
const HEADERS = { 'content-type': 'application/json' };

/** The bare node:http + pg server (floor-server.ts): what answering this query costs at the least. */
export async function startFloor(context: SystemContext, nodeOptions?: string): Promise<RunningSystem> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const server = await startChildServer({
    name: 'floor server',
    command: process.execPath,
    args: [FLOOR_SERVER],
    env: {
      DATABASE_URL: context.runtimeUrl,
      POOL_SIZE: String(context.poolSize),
      STATEMENTS: JSON.stringify(Object.fromEntries(context.queries.map((query) => [query.name, query.statement]))),
      PORT: String(port),
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    },
    ready: () => answers(url),
  });
  return {
    name: 'floor',
    description: 'bare node:http + pg Pool, named prepared statement, plain JSON (no MCP, no auth)',
    url,
    pids: [server.pid],
    request: (query, customerId) => ({ headers: HEADERS, body: JSON.stringify({ statement: query.name, customerId }) }),
    rowsOf: (_contentType, body) => (JSON.parse(body) as { rows: Row[] }).rows,
    isSuccess: (body) => body.startsWith('{"rows":['),
    stop: () => server.stop(),
  };
}
