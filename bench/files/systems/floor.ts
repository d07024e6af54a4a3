import { fileURLToPath } from 'node:url';
import { freePort } from '@flotilla/testkit';
import { startChildServer } from '../../shared/child-server.ts';
import { answers } from '../../shared/net.ts';
import { DIRECTORY_NAME, type Document } from '../dataset.ts';
import { checkNames, checkText, type Operation, type Probe, type RunningSystem, type StartOptions } from './system.ts';

const FLOOR_SERVER = fileURLToPath(new URL('../floor-server.ts', import.meta.url));

/**
 * A GET to the floor as the closed loop times it: the whole body read and parsed as JSON, the least
 * any client does with an answer (the MCP client also checks it against the tool's output schema).
 */
function routeProbe(operation: Operation, url: string, check: (answer: unknown) => void): Probe {
  return {
    operation,
    tool: `GET ${new URL(url).pathname}`,
    async call() {
      const response = await fetch(url);
      await response.json();
      return response.ok;
    },
    async check() {
      const response = await fetch(url);
      const body = await response.text();
      if (!response.ok) throw new Error(`floor: ${url} answered ${response.status}: ${body.slice(0, 1000)}`);
      check(JSON.parse(body));
      return Buffer.byteLength(body);
    },
  };
}

/** The bare node:http server (floor-server.ts): what answering these questions costs in Node.js at the least. */
export async function startFloor(options: StartOptions): Promise<RunningSystem> {
  const { dataset } = options;
  const base = `http://127.0.0.1:${await freePort()}`;
  const server = await startChildServer({
    name: 'floor server',
    command: process.execPath,
    args: [FLOOR_SERVER],
    env: {
      ROOT: dataset.served,
      PORT: new URL(base).port,
      ...(options.nodeOptions ? { NODE_OPTIONS: options.nodeOptions } : {}),
    },
    ready: () => answers(`${base}/ready`),
  });
  return {
    name: 'floor',
    description:
      'bare `node:http` (`files/floor-server.ts`): one `fs.readFile` or `fs.readdir` per request, plain JSON ' +
      '(no MCP, no auth, no checks), driven by `fetch` (undici, keep-alive)',
    serverVersion: `node:http ${process.version}`,
    protocolVersion: 'plain HTTP/1.1 GET, JSON',
    pid: server.pid,
    read: (document: Document) =>
      routeProbe('read_file', `${base}/read?path=${encodeURIComponent(document.name)}`, (answer) =>
        checkText('floor', String((answer as { content?: unknown }).content), document),
      ),
    listings: [
      routeProbe('list_directory', `${base}/list?path=${encodeURIComponent(DIRECTORY_NAME)}`, (answer) =>
        checkNames('floor', 'GET /list', (answer as { entries?: string[] }).entries ?? [], dataset),
      ),
    ],
    outputTail: server.outputTail,
    stop: () => server.stop(),
  };
}
