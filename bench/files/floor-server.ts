/**
 * The floor: the least a Node.js HTTP service can do to answer the benchmark's two questions. No
 * MCP, no auth, no rate limit, no validation, no path checks (it listens on loopback for one run):
 * one fs.readFile or fs.readdir and a JSON answer. Whatever Flotilla costs above this is the price
 * of its protocol and protections, and of its own code.
 *
 *   GET /read?path=doc.txt  ->  200 {"content": "..."}
 *   GET /list?path=many     ->  200 {"entries": ["entry-0000.txt", ...]}
 *   GET /ready              ->  200 ok
 *
 * Configured by ROOT (the served directory) and PORT; run as its own process by the benchmark.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';

const root = process.env.ROOT;
const port = Number(process.env.PORT);
if (!root || !port) {
  process.stderr.write('floor-server: ROOT and PORT are required\n');
  process.exit(2);
}

function send(response: ServerResponse, status: number, body: string, type = 'application/json'): void {
  response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://floor');
  const path = join(root as string, url.searchParams.get('path') ?? '');
  if (url.pathname === '/read') return send(response, 200, JSON.stringify({ content: await readFile(path, 'utf8') }));
  if (url.pathname === '/list') return send(response, 200, JSON.stringify({ entries: await readdir(path) }));
  if (url.pathname === '/ready') return send(response, 200, 'ok', 'text/plain');
  send(response, 404, JSON.stringify({ error: `no route ${url.pathname}` }));
}

const server = createServer((request, response) => {
  handle(request, response).catch((error: Error) => send(response, 500, JSON.stringify({ error: error.message })));
});
// Like Flotilla's server: connections stay open across requests for as long as the client keeps them.
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');

process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
