import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { connectMcpClient, mintApiKey, startTestIssuer, type TestIssuer, writeApiKeysFile } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  PROTOCOL_VERSIONS,
  SERVER_CARD_META_KEY,
  type ServerCard,
  serverCardOf,
  TOOL_SCOPES_META_KEY,
} from './server-card.js';
import { type RunningService, type ServiceDefinition, startService } from './service.js';
import { type FixtureDeps, fixtureEnvironment, fixtureService } from './testing/fixture-service.js';

// The fixture with one resource template and one prompt, so every section of the card has something in it.
const definition: ServiceDefinition<FixtureDeps> = {
  ...fixtureService,
  resources: [
    {
      name: 'notes',
      title: 'Notes',
      description: 'Each stored note.',
      uriTemplate: 'fixture://note/{index}',
      mimeType: 'text/plain',
      scopes: ['test:read'],
      list: async ({ deps }) => deps.notes.map((_, index) => ({ uri: `fixture://note/${index}`, name: `${index}` })),
      read: async (_uri, { index }, { deps }) => deps.notes[Number(index)] ?? '',
    },
  ],
  prompts: [
    {
      name: 'summarize',
      title: 'Summarize notes',
      description: 'Asks for a summary of the notes.',
      scopes: ['test:read'],
      args: { style: z.string().describe('How to write it.'), limit: z.string().optional() },
      render: async ({ style }) => `Summarize the notes, ${style}.`,
    },
  ],
};

let issuer: TestIssuer;
let keysFile: string;
const writerKey = mintApiKey({ subject: 'writer', tenant: 'acme', scopes: ['test:read', 'test:write'] });
const running: RunningService[] = [];

function envFor(extra: Record<string, string> = {}): Record<string, string> {
  return { ...fixtureEnvironment({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, keysFile }), ...extra };
}

async function start(extra: Record<string, string> = {}) {
  const service = await startService({
    definition,
    environment: {},
    transport: 'http',
    env: envFor(extra),
    logDestination: new Writable({ write: (_chunk, _encoding, done) => done() }),
    setup: async () => ({ deps: { notes: [], aborted: { count: 0 } }, dependencies: [], close: async () => {} }),
  });
  running.push(service);
  return service;
}

const cardUrl = (service: RunningService, path = '/.well-known/mcp/server-card.json') =>
  `${new URL(service.mcpUrl).origin}${path}`;

async function cardOf(service: RunningService): Promise<ServerCard> {
  const response = await fetch(cardUrl(service));
  expect(response.status).toBe(200);
  return (await response.json()) as ServerCard;
}

/** A GET with a Host of the test's choosing (fetch will not set one). */
function rawGet(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'GET', agent: false, headers });
    request.on('error', reject);
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.end();
  });
}

beforeAll(async () => {
  issuer = await startTestIssuer();
  keysFile = await writeApiKeysFile([writerKey.entry]);
});

afterAll(async () => {
  await Promise.all(running.map((service) => service.shutdown()));
  await issuer?.close();
});

describe('the server card', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await start();
  });

  it('is served without credentials at the well-known path and beside the MCP endpoint, identically', async () => {
    const wellKnown = await fetch(cardUrl(service));
    const beside = await fetch(cardUrl(service, '/mcp/server-card'));
    expect([wellKnown.status, beside.status]).toEqual([200, 200]);
    expect(wellKnown.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await beside.text()).toBe(await wellKnown.text());
  });

  it('names the server, its URL, the protocol revisions and how to authenticate', async () => {
    const card = await cardOf(service);
    expect(card).toMatchObject({
      $schema: 'https://static.modelcontextprotocol.io/schemas/v2/server-card.schema.json',
      name: 'io.github.flotilla/fixture',
      version: '0.0.0',
      title: 'Runtime fixture',
      description: 'Test fixture.',
      remotes: [
        {
          type: 'streamable-http',
          url: 'http://127.0.0.1/mcp',
          supportedProtocolVersions: ['2026-07-28', '2025-11-25', '2025-06-18'],
          headers: [{ name: 'Authorization', isRequired: true, isSecret: true, value: 'Bearer {token}' }],
        },
      ],
    });
    expect(card._meta[SERVER_CARD_META_KEY].authorization).toEqual({
      modes: ['oauth', 'api-key'],
      authorizationServers: [issuer.issuer],
      protectedResourceMetadata: 'http://127.0.0.1/.well-known/oauth-protected-resource/mcp',
      scopesSupported: ['test:read', 'test:write'],
    });
    expect(PROTOCOL_VERSIONS).toContain('2026-07-28');
  });

  it('shows each tool exactly as tools/list does, and the initialize identity, plus the scopes each needs', async () => {
    const card = (await cardOf(service))._meta[SERVER_CARD_META_KEY];
    const client = await connectMcpClient(service.mcpUrl, { token: writerKey.key });
    try {
      const { tools } = await client.listTools();
      expect(card.tools.map(({ _meta, ...tool }) => tool)).toEqual(
        tools.map((tool) => ({
          name: tool.name,
          title: tool.title,
          description: tool.description,
          inputSchema: tool.inputSchema,
          outputSchema: tool.outputSchema,
          annotations: tool.annotations,
        })),
      );
      expect(card.serverInfo).toMatchObject(client.getServerVersion() ?? {});
      expect(card.serverInfo).toEqual({ name: 'flotilla-fixture', title: 'Runtime fixture', version: '0.0.0' });
    } finally {
      await client.close();
    }
    expect(card.tools.find((tool) => tool.name === 'add_note')?._meta[TOOL_SCOPES_META_KEY]).toEqual({
      required: ['test:write'],
      optional: [],
    });
  });

  it('lists resource templates and prompts with their arguments and scopes', async () => {
    const card = (await cardOf(service))._meta[SERVER_CARD_META_KEY];
    expect(card.resourceTemplates).toEqual([
      {
        name: 'notes',
        title: 'Notes',
        description: 'Each stored note.',
        uriTemplate: 'fixture://note/{index}',
        mimeType: 'text/plain',
        _meta: { [TOOL_SCOPES_META_KEY]: { required: ['test:read'], optional: [] } },
      },
    ]);
    expect(card.prompts).toEqual([
      {
        name: 'summarize',
        title: 'Summarize notes',
        description: 'Asks for a summary of the notes.',
        arguments: [
          { name: 'style', description: 'How to write it.', required: true },
          { name: 'limit', required: false },
        ],
        _meta: { [TOOL_SCOPES_META_KEY]: { required: ['test:read'], optional: [] } },
      },
    ]);
  });

  it('reveals no credential file, JWKS location or other configuration', async () => {
    const text = await (await fetch(cardUrl(service))).text();
    expect(text).not.toContain(keysFile);
    expect(text).not.toContain(issuer.jwksUrl);
    expect(text).not.toContain(writerKey.key);
  });

  it('is cacheable: Cache-Control, an ETag, and 304 for a matching If-None-Match', async () => {
    const first = await fetch(cardUrl(service));
    expect(first.headers.get('cache-control')).toBe('public, max-age=300');
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    // Through node:http: fetch adds Cache-Control: no-cache to a conditional request, which forbids a 304.
    expect(await rawGet(cardUrl(service), { 'if-none-match': etag ?? '' })).toBe(304);
  });

  it('answers in the Server Card media type when a client asks for it', async () => {
    const response = await fetch(cardUrl(service), { headers: { accept: 'application/mcp-server-card+json' } });
    expect(response.headers.get('content-type')).toMatch(/^application\/mcp-server-card\+json/);
  });

  it("is listed in the host's MCP Catalog at /.well-known/mcp/catalog.json", async () => {
    const response = await fetch(cardUrl(service, '/.well-known/mcp/catalog.json'));
    expect(response.headers.get('cache-control')).toBe('public, max-age=300');
    expect(await response.json()).toEqual({
      specVersion: 'draft',
      entries: [
        {
          identifier: 'urn:air:127.0.0.1:fixture',
          displayName: 'Runtime fixture',
          type: 'application/mcp-server-card+json',
          url: 'http://127.0.0.1/.well-known/mcp/server-card.json',
        },
      ],
    });
  });

  it('is what serverCardOf builds from the definition and the environment, without a running server', async () => {
    expect(serverCardOf(definition, envFor())).toEqual(await cardOf(service));
  });
});

describe('the server card and the public port guards', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await start({ ALLOWED_ORIGINS: 'https://app.example.com' });
  });

  it('refuses a disallowed Origin and lets an allowed one read it across origins', async () => {
    expect((await fetch(cardUrl(service), { headers: { origin: 'https://evil.example.com' } })).status).toBe(403);
    const allowed = await fetch(cardUrl(service), { headers: { origin: 'https://app.example.com' } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });

  it('refuses a Host that is not allowed (DNS rebinding)', async () => {
    expect(await rawGet(cardUrl(service), { host: 'attacker.example.com' })).toBe(403);
    expect(await rawGet(cardUrl(service), { host: '127.0.0.1' })).toBe(200);
  });
});

describe('the server card and tool selection', () => {
  it('shows only read-only tools with READ_ONLY=true, and narrows with TOOLS_ENABLED and TOOLS_DISABLED', async () => {
    const names = async (env: Record<string, string>) =>
      (await cardOf(await start(env)))._meta[SERVER_CARD_META_KEY].tools.map((tool) => tool.name);
    expect(await names({ READ_ONLY: 'true' })).toEqual(['echo', 'slow', 'limited', 'fail']);
    expect(await names({ TOOLS_ENABLED: 'echo,add_note', TOOLS_DISABLED: 'add_note' })).toEqual(['echo']);
    const readOnly = await start({ READ_ONLY: 'true' });
    expect((await cardOf(readOnly))._meta[SERVER_CARD_META_KEY].authorization.scopesSupported).toEqual(['test:read']);
  });
});
