import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  chartsDir,
  ensureTools,
  type K8sObject,
  policyViolations,
  type RenderOptions,
  template,
  templateRaw,
  validateObject,
} from './tools.js';

// The umbrella chart's fleet catalog (templates/catalog-*.yaml): a ConfigMap with an MCP Catalog and each server's
// card, built from files/catalog/*.json and the values the servers are deployed with.

const SERVERS = ['database', 'files', 'notifications'] as const;
const CARD_KEY = 'io.github.flotilla/server-card';

interface Card {
  remotes: { url: string }[];
  _meta: {
    [CARD_KEY]: {
      authorization: {
        modes: string[];
        authorizationServers: string[];
        protectedResourceMetadata: string;
        scopesSupported: string[];
      };
      tools: { name: string; annotations: { readOnlyHint: boolean } }[];
    };
  };
}
interface Catalog {
  specVersion: string;
  entries: { identifier: string; displayName: string; type: string; url: string }[];
  _meta: { 'io.github.flotilla/fleet': { server: string; url: string; authModes: string[]; tools: string[] }[] };
}

const committed = (server: string) =>
  JSON.parse(readFileSync(join(chartsDir, `flotilla/files/catalog/${server}.json`), 'utf8')) as Card;

let workDir: string;
beforeAll(async () => {
  await ensureTools();
  workDir = await mkdtemp(join(tmpdir(), 'flotilla-catalog-chart-'));
}, 120_000);
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function render(values?: Record<string, unknown>, options: RenderOptions = {}) {
  const valuesFiles = [];
  if (values) {
    const file = join(workDir, `values-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, stringify(values));
    valuesFiles.push(file);
  }
  const objects = await template('flotilla', { ...options, valuesFiles });
  for (const object of objects) validateObject(object);
  expect(policyViolations(objects)).toEqual([]);
  return objects;
}

function catalogOf(objects: K8sObject[]) {
  const map = objects.find((object) => object.kind === 'ConfigMap' && object.metadata.name === 'flotilla-catalog');
  if (!map) throw new Error('no flotilla-catalog ConfigMap');
  const data = map.data as Record<string, string>;
  return {
    keys: Object.keys(data).sort(),
    catalog: JSON.parse(data['catalog.json'] ?? '') as Catalog,
    card: (server: string) => JSON.parse(data[`${server}.json`] ?? '') as Card,
  };
}
const toolNames = (card: Card) => card._meta[CARD_KEY].tools.map((tool) => tool.name);

describe('the umbrella chart catalog', () => {
  it('renders a valid ConfigMap that lists the three servers at the URLs of the values', async () => {
    const { keys, catalog, card } = catalogOf(await render());
    expect(keys).toEqual(['catalog.json', 'database.json', 'files.json', 'notifications.json']);
    expect(catalog.specVersion).toBe('draft');
    expect(catalog.entries).toEqual([
      {
        identifier: 'urn:air:mcp.example.com:database',
        displayName: 'Flotilla PostgreSQL',
        type: 'application/mcp-server-card+json',
        url: 'https://db.mcp.example.com/.well-known/mcp/server-card.json',
      },
      expect.objectContaining({ url: 'https://files.mcp.example.com/.well-known/mcp/server-card.json' }),
      expect.objectContaining({ url: 'https://notify.mcp.example.com/.well-known/mcp/server-card.json' }),
    ]);
    expect(
      catalog._meta['io.github.flotilla/fleet'].map((entry) => [entry.server, entry.url, entry.authModes]),
    ).toEqual([
      ['database', 'https://db.mcp.example.com/mcp', ['api-key']],
      ['files', 'https://files.mcp.example.com/mcp', ['api-key']],
      ['notifications', 'https://notify.mcp.example.com/mcp', ['api-key']],
    ]);
    // With the charts' defaults the files and notifications servers serve exactly the committed cards.
    for (const server of ['files', 'notifications']) expect(card(server)).toEqual(committed(server));
    // The database chart enables no writable table by default, and the server then offers no write tools.
    expect(toolNames(card('database'))).toEqual(['list_schemas', 'list_tables', 'describe_table', 'query', 'explain']);
    expect(card('database')._meta[CARD_KEY].authorization.scopesSupported).toEqual(['db:read']);
  });

  it('follows each server’s host, auth and tool selection from its values', async () => {
    const { catalog, card } = catalogOf(
      await render({
        'flotilla-database': {
          publicHost: 'db.acme.test',
          config: { DB_WRITABLE_TABLES: ['orders'] },
          auth: {
            mode: 'oauth,api-key',
            issuer: 'https://login.acme.test/',
            jwksUrl: 'https://login.acme.test/jwks.json',
            servers: ['https://login.acme.test/'],
          },
        },
        'flotilla-files': { config: { READ_ONLY: true } },
        'flotilla-notifications': { config: { TOOLS_DISABLED: 'cancel_notification, send_notification' } },
      }),
    );
    expect(catalog.entries[0]?.url).toBe('https://db.acme.test/.well-known/mcp/server-card.json');
    const database = card('database');
    expect(database.remotes[0]?.url).toBe('https://db.acme.test/mcp');
    expect(database._meta[CARD_KEY].authorization).toEqual({
      modes: ['oauth', 'api-key'],
      authorizationServers: ['https://login.acme.test/'],
      protectedResourceMetadata: 'https://db.acme.test/.well-known/oauth-protected-resource/mcp',
      scopesSupported: ['db:read', 'db:write'],
    });
    expect(toolNames(database)).toEqual(toolNames(committed('database')));
    const files = card('files');
    expect(toolNames(files)).toEqual(
      committed('files')
        ._meta[CARD_KEY].tools.filter((tool) => tool.annotations.readOnlyHint)
        .map((tool) => tool.name),
    );
    expect(files._meta[CARD_KEY].authorization.scopesSupported).toEqual(['files:read']);
    expect(toolNames(card('notifications'))).toEqual(['list_channels', 'get_notification', 'list_notifications']);
  });

  it('lists only the enabled servers, and renders nothing when catalog.enabled is false', async () => {
    const { keys, catalog } = catalogOf(await render({ 'flotilla-files': { enabled: false } }));
    expect(keys).toEqual(['catalog.json', 'database.json', 'notifications.json']);
    expect(catalog.entries.map((entry) => entry.identifier)).toEqual([
      'urn:air:mcp.example.com:database',
      'urn:air:mcp.example.com:notifications',
    ]);
    const off = await render({ catalog: { enabled: false } });
    expect(off.some((object) => object.metadata.name === 'flotilla-catalog')).toBe(false);
  });

  it('renders no route by default, and an Ingress or HTTPRoute on catalog.host when enabled', async () => {
    const none = await render();
    expect(none.filter((object) => object.metadata.name === 'catalog-web')).toEqual([]);
    const objects = await render({
      catalog: {
        host: 'mcp.acme.test',
        route: {
          service: { name: 'catalog-web', port: 8080 },
          ingress: { enabled: true, className: 'nginx' },
          httpRoute: { enabled: true, parentRefs: [{ name: 'mcp-gateway', namespace: 'gateway-system' }] },
        },
      },
    });
    const ingress = objects.find((object) => object.kind === 'Ingress' && object.metadata.name === 'catalog-web');
    expect(ingress?.spec.rules[0].host).toBe('mcp.acme.test');
    expect(ingress?.spec.rules[0].http.paths[0].backend.service.name).toBe('catalog-web');
    const route = objects.find((object) => object.kind === 'HTTPRoute' && object.metadata.name === 'catalog-web');
    expect(route?.spec.hostnames).toEqual(['mcp.acme.test']);
    expect(route?.spec.rules[0].backendRefs).toEqual([{ name: 'catalog-web', port: 8080 }]);
    expect(catalogOf(objects).catalog.entries[0]?.identifier).toBe('urn:air:mcp.acme.test:database');
  });

  it('refuses a route without the Service to send it to, and unknown catalog keys (strict schema)', async () => {
    const noService = await templateRaw('flotilla', { set: ['catalog.route.httpRoute.enabled=true'] });
    expect(noService.ok).toBe(false);
    expect(noService.stderr).toContain('catalog.route.service.name is required');
    const unknown = await templateRaw('flotilla', { set: ['catalog.colour=blue'] });
    expect(unknown.ok).toBe(false);
    expect(unknown.stderr).toMatch(/additional properties|colour/i);
  });
});

describe.each(SERVERS)('the committed %s card', (server) => {
  it('holds no credential or backend location', () => {
    const text = readFileSync(join(chartsDir, `flotilla/files/catalog/${server}.json`), 'utf8');
    // postgres://table/{schema}/{table} is the database server's resource template, not a connection string.
    expect(text).not.toMatch(
      /\w+:\/\/[^\s"/]*@|postgres(ql)?:\/\/(?!table\/)|redis:\/\/|smtp:\/\/|whsec_|flt_|\/etc\/flotilla/,
    );
  });
});
