/**
 * The least a Node.js server of this shape holds: bare `node:http` on PORT answering every POST with
 * one canned JSON-RPC tool result (the size of the files server's 4 KiB answer), and /readyz on
 * ADMIN_PORT. No MCP, no auth, no Redis, no Postgres: what Node.js itself costs, measured the same way.
 */
import { createServer } from 'node:http';

const ANSWER = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  result: { content: [{ type: 'text', text: 'x'.repeat(4096) }], structuredContent: {} },
});

const host = process.env.HOST ?? '127.0.0.1';
const mcp = createServer((request, response) => {
  request.resume();
  request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end(ANSWER));
});
const admin = createServer((request, response) => {
  response.writeHead(request.url === '/readyz' ? 200 : 404).end();
});
mcp.listen(Number(process.env.PORT), host);
admin.listen(Number(process.env.ADMIN_PORT), host);
process.on('SIGTERM', () => {
  mcp.close();
  admin.close();
  mcp.closeAllConnections();
  admin.closeAllConnections();
});
