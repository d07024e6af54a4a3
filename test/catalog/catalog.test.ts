import { readFile } from 'node:fs/promises';
import type { ServiceProcess } from '@flotilla/testkit';
import { connectMcpClient } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, SERVER_NAMES, type ServerName, startFleet } from '../clients/fleet.js';

// Each server's card (/.well-known/mcp/server-card.json) against what the same server answers over MCP, and the
// cards committed for the umbrella chart (charts/flotilla/files/catalog, written by `npm run catalog`) against
// what the built servers serve when configured as those files say.

const CARD_KEY = 'io.github.flotilla/server-card';
const SCOPES_KEY = 'io.github.flotilla/scopes';

interface CardTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: unknown;
  outputSchema?: unknown;
  annotations?: { readOnlyHint?: boolean };
  _meta: { [SCOPES_KEY]: { required: string[]; optional: string[] } };
}
interface Card {
  name: string;
  version: string;
  remotes: { type: string; url: string; supportedProtocolVersions: string[] }[];
  _meta: {
    [CARD_KEY]: {
      serverInfo: { name: string; version: string; title: string };
      authorization: { modes: string[]; scopesSupported: string[]; protectedResourceMetadata: string };
      tools: CardTool[];
      resourceTemplates: { name: string; uriTemplate: string }[];
      prompts: { name: string; arguments: { name: string; required: boolean }[] }[];
    };
  };
}

const committedFile = (server: ServerName) =>
  new URL(`../../charts/flotilla/files/catalog/${server}.json`, import.meta.url);
const committed = async (server: ServerName) => JSON.parse(await readFile(committedFile(server), 'utf8')) as Card;

async function fetchCard(process: ServiceProcess): Promise<{ card: Card }> {
  const response = await fetch(new URL('/.well-known/mcp/server-card.json', process.mcpUrl));
  expect(response.status).toBe(200);
  return { card: (await response.json()) as Card };
}

/** What the card says of a tool, in the shape `tools/list` gives it. */
const asListed = ({ _meta, ...tool }: CardTool) => tool;

let fleet: Fleet;
const servers = {} as Record<ServerName, ServiceProcess>;
const readOnly = {} as Record<ServerName, ServiceProcess>;

beforeAll(async () => {
  fleet = await startFleet();
  for (const server of SERVER_NAMES) {
    // Configured as the committed card says it was generated: the chart's default public URL.
    const publicUrl = (await committed(server)).remotes[0]?.url ?? '';
    servers[server] = await fleet.spawnHttp(server, { PUBLIC_URL: publicUrl });
    readOnly[server] = await fleet.spawnHttp(server, { PUBLIC_URL: publicUrl, READ_ONLY: 'true' });
  }
}, 180_000);

afterAll(async () => {
  await fleet?.stop();
});

describe.each(SERVER_NAMES)('the %s server card', (server) => {
  it('lists every tool exactly as tools/list shows it to a caller with every scope, and names the server as initialize does', async () => {
    const { card } = await fetchCard(servers[server]);
    const meta = card._meta[CARD_KEY];
    const client = await connectMcpClient(servers[server].mcpUrl, { token: fleet.apiKey });
    try {
      const { tools } = await client.listTools();
      expect(meta.tools.map(asListed)).toEqual(
        tools.map((tool) => ({
          name: tool.name,
          title: tool.title,
          description: tool.description,
          inputSchema: tool.inputSchema,
          outputSchema: tool.outputSchema,
          annotations: tool.annotations,
        })),
      );
      const info = client.getServerVersion();
      expect(meta.serverInfo).toEqual({ name: info?.name, title: info?.title, version: info?.version });
      expect(card.name).toBe(`io.github.flotilla/${server}`);
      expect(card.version).toBe(info?.version);

      // A server without resources or prompts does not advertise the capability; the card's lists are then empty.
      const capabilities = client.getServerCapabilities();
      const templates = capabilities?.resources ? (await client.listResourceTemplates()).resourceTemplates : [];
      expect(meta.resourceTemplates.map((template) => [template.name, template.uriTemplate])).toEqual(
        templates.map((template) => [template.name, template.uriTemplate]),
      );
      const prompts = capabilities?.prompts ? (await client.listPrompts()).prompts : [];
      expect(meta.prompts.map((prompt) => [prompt.name, prompt.arguments])).toEqual(
        prompts.map((prompt) => [
          prompt.name,
          (prompt.arguments ?? []).map((arg) => ({
            name: arg.name,
            ...(arg.description ? { description: arg.description } : {}),
            required: arg.required ?? false,
          })),
        ]),
      );
    } finally {
      await client.close();
    }
  });

  it('advertises the scopes each tool needs, and the same scope list as the RFC 9728 metadata', async () => {
    const { card } = await fetchCard(servers[server]);
    const meta = card._meta[CARD_KEY];
    const metadata = (await (
      await fetch(
        meta.authorization.protectedResourceMetadata.replace(
          new URL(card.remotes[0]?.url ?? '').origin,
          new URL(servers[server].mcpUrl).origin,
        ),
      )
    ).json()) as { scopes_supported: string[] };
    expect(meta.authorization.scopesSupported).toEqual(metadata.scopes_supported);
    expect(meta.authorization.modes).toEqual(['api-key']);
    for (const tool of meta.tools) {
      expect(tool._meta[SCOPES_KEY].required.length, tool.name).toBeGreaterThan(0);
      for (const scope of [...tool._meta[SCOPES_KEY].required, ...tool._meta[SCOPES_KEY].optional]) {
        expect(meta.authorization.scopesSupported).toContain(scope);
      }
    }
    expect(card.remotes[0]?.supportedProtocolVersions).toEqual(['2026-07-28', '2025-11-25', '2025-06-18']);
  });

  it('shows only the read-only tools with READ_ONLY=true, as tools/list does', async () => {
    const full = (await fetchCard(servers[server])).card._meta[CARD_KEY].tools;
    const { card } = await fetchCard(readOnly[server]);
    const names = card._meta[CARD_KEY].tools.map((tool) => tool.name);
    expect(names).toEqual(full.filter((tool) => tool.annotations?.readOnlyHint === true).map((tool) => tool.name));
    expect(names.length).toBeLessThan(full.length);
    const client = await connectMcpClient(readOnly[server].mcpUrl, { token: fleet.apiKey });
    try {
      expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(names);
    } finally {
      await client.close();
    }
  });

  it('is what charts/flotilla/files/catalog holds for it (run `npm run catalog` after changing a tool)', async () => {
    const { card } = await fetchCard(servers[server]);
    expect(await committed(server)).toEqual(card);
  });
});
