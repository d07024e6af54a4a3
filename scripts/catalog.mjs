#!/usr/bin/env node
// `npm run catalog`: writes each server's card (what it serves at /.well-known/mcp/server-card.json) to
// charts/flotilla/files/catalog/<server>.json, built from the servers' real definitions by the runtime's own
// serverCardOf, so the umbrella chart's catalog never lists a tool by hand. The cards are built for the
// chart's defaults (each server's publicHost and auth.mode); the chart rewrites URL, auth and the
// exposed tools from the values it is installed with. `--check` writes nothing and exits 1 when a
// committed file is stale. Needs a build (npm run catalog builds first).
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { databaseService } from '@flotilla/database';
import { filesService } from '@flotilla/files';
import { notificationsService } from '@flotilla/notifications';
import { serverCardOf } from '@flotilla/runtime';
import { parse } from 'yaml';

const path = (relative) => fileURLToPath(new URL(`../${relative}`, import.meta.url));
const definitions = { database: databaseService, files: filesService, notifications: notificationsService };
const check = process.argv.includes('--check');

const umbrella = parse(await readFile(path('charts/flotilla/values.yaml'), 'utf8'));
let stale = 0;
for (const [server, definition] of Object.entries(definitions)) {
  const chart = `flotilla-${server}`;
  const defaults = parse(await readFile(path(`charts/${chart}/values.yaml`), 'utf8'));
  const values = { ...defaults, ...umbrella[chart], auth: { ...defaults.auth, ...umbrella[chart]?.auth } };
  const card = serverCardOf(definition, {
    PUBLIC_URL: `https://${values.publicHost}/mcp`,
    AUTH_MODE: values.auth.mode,
    // Only checked for presence here; the card never names it.
    AUTH_API_KEYS_FILE: '/etc/flotilla/auth/api-keys.json',
    AUTH_ISSUER: values.auth.issuer,
    AUTH_JWKS_URL: values.auth.jwksUrl || undefined,
    AUTH_SERVERS: (values.auth.servers ?? []).join(','),
  });
  const file = path(`charts/flotilla/files/catalog/${server}.json`);
  const text = formatted(file, JSON.stringify(card, null, 2));
  const committed = await readFile(file, 'utf8').catch(() => '');
  if (committed === text) continue;
  stale += 1;
  if (check) process.stderr.write(`${file} is stale: run npm run catalog\n`);
  else await writeFile(file, text);
}
if (!check) process.stdout.write(`catalog: ${stale} of ${Object.keys(definitions).length} cards rewritten\n`);
process.exit(check && stale > 0 ? 1 : 0);

/** The repository's formatter has the last word on layout, so `npm run lint` accepts the files as written. */
function formatted(file, text) {
  return execFileSync(path('node_modules/.bin/biome'), ['format', `--stdin-file-path=${file}`], {
    input: text,
    encoding: 'utf8',
  });
}
