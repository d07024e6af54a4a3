/**
 * The floor: the least a Node.js HTTP service can do to answer the benchmark's query. No MCP, no
 * auth, no rate limit, no transaction, one round trip to Postgres with a named prepared statement
 * (parsed once per connection). Whatever Flotilla costs above this is the price of its protocol and
 * protections, and of its own code.
 *
 *   POST /  {"statement": "orders_by_customer", "customerId": 42}  ->  200 {"rows": [...]}
 *   GET  /                                                        ->  200 ok   (readiness)
 *
 * Configured by DATABASE_URL, POOL_SIZE, STATEMENTS (a JSON object of statement names to SQL, each
 * with one $1 parameter) and PORT; run as its own process by the benchmark.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`floor-server: ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

const statements = new Map(Object.entries(JSON.parse(required('STATEMENTS')) as Record<string, string>));
const pool = new pg.Pool({ connectionString: required('DATABASE_URL'), max: Number(required('POOL_SIZE')) });
pool.on('error', () => undefined);

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, status: number, body: string, type = 'application/json'): void {
  response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method === 'GET') return send(response, 200, 'ok', 'text/plain');
  const { statement: name, customerId } = JSON.parse(await readBody(request)) as {
    statement: string;
    customerId: number;
  };
  const text = statements.get(name);
  if (text === undefined) return send(response, 400, JSON.stringify({ error: `unknown statement ${name}` }));
  const result = await pool.query({ name, text, values: [customerId] });
  send(response, 200, JSON.stringify({ rows: result.rows }));
}

const server = createServer((request, response) => {
  handle(request, response).catch((error: Error) => send(response, 500, JSON.stringify({ error: error.message })));
});
// Like Flotilla's server: connections stay open across requests for as long as the client keeps them.
server.keepAliveTimeout = 65_000;
server.listen(Number(required('PORT')), '127.0.0.1');

process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
});
