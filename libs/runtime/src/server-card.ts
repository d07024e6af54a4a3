import { resourceMetadataUrl } from '@flotilla/auth';
import type { z } from 'zod';
import { loadConfig, type RuntimeConfig } from './config.js';
import { exposureOf } from './exposure.js';
import type { ServiceDefinition } from './service.js';
import { type PromptDefinition, type ResourceTemplateDefinition, serverIdentityOf } from './surface.js';
import { type AnyTool, describeTool, scopesOf, type ToolDescriptor } from './tool.js';

/**
 * A server's self-description, read before connecting: what `npm start`, the chart catalog and any
 * client can learn from one unauthenticated GET.
 *
 * The document is an MCP Server Card as drafted in SEP-2127 (modelcontextprotocol/experimental-ext-server-card,
 * schema.ts), which is a subset of the registry's `server.json`: `$schema`, reverse-DNS `name`,
 * `version`, `title`, `description` (at most 100 characters) and `remotes` (`type`, `url`, `headers`
 * as inputs, `supportedProtocolVersions`). The draft deliberately leaves tools, resources and prompts
 * out; Flotilla extends it, as the draft allows, under one reverse-DNS `_meta` key (SERVER_CARD_META_KEY):
 * the `initialize` identity, instructions, authorization (AUTH_MODE, AUTH_SERVERS, the RFC 9728
 * metadata URL, scopes), every exposed tool exactly as `tools/list` shows it plus its scopes in the
 * tool's own `_meta` (TOOL_SCOPES_META_KEY), resource templates and prompts with their scopes.
 * It holds nothing secret: no key, backend URL, channel URL or connection string is ever part of it.
 */
const SERVER_CARD_SCHEMA = 'https://static.modelcontextprotocol.io/schemas/v2/server-card.schema.json';
export const SERVER_CARD_META_KEY = 'io.github.flotilla/server-card';
export const TOOL_SCOPES_META_KEY = 'io.github.flotilla/scopes';
/** The reverse-DNS namespace of every Flotilla server name: `io.github.flotilla/database`. */
const SERVER_CARD_NAMESPACE = 'io.github.flotilla';
/** SEP-2127's media type; a client that asks for it gets it, anyone else plain JSON. */
export const SERVER_CARD_MEDIA_TYPE = 'application/mcp-server-card+json';

/**
 * The protocol revisions SPEC §2 promises. The SDK also answers some older 2024/2025 revisions, but a card
 * advertises what the fleet is tested against.
 */
export const PROTOCOL_VERSIONS = ['2026-07-28', '2025-11-25', '2025-06-18'] as const;

/**
 * Where the card is served on the public port: the `.well-known` location of SEP-1649 and the first
 * SEP-2127 drafts (what discovery crawlers probe today), and `<streamable-http-url>/server-card`, the
 * location the current SEP-2127 draft reserves.
 */
export function serverCardPaths(publicUrl: string): string[] {
  const mcpPath = new URL(publicUrl).pathname.replace(/\/$/, '');
  return ['/.well-known/mcp/server-card.json', `${mcpPath}/server-card`];
}

/**
 * The MCP Catalog (SEP-2127 draft, docs/discovery.md) each server publishes on its own host at
 * /.well-known/mcp/catalog.json: one entry, pointing at its card, so domain-level discovery finds it. The
 * umbrella chart's catalog lists the whole fleet in the same format.
 */
export const CATALOG_PATH = '/.well-known/mcp/catalog.json';

export function catalogOf(card: ServerCard): {
  specVersion: 'draft';
  entries: { identifier: string; displayName: string; type: string; url: string }[];
} {
  const publicUrl = new URL(card.remotes[0]?.url ?? '');
  return {
    specVersion: 'draft',
    entries: [
      {
        identifier: `urn:air:${publicUrl.hostname}:${card.name.split('/')[1]}`,
        displayName: card.title,
        type: SERVER_CARD_MEDIA_TYPE,
        url: `${publicUrl.origin}${serverCardPaths(publicUrl.href)[0]}`,
      },
    ],
  };
}

interface ScopesMeta {
  required: string[];
  optional: string[];
}

type CardTool = ToolDescriptor & { _meta: { [TOOL_SCOPES_META_KEY]: ScopesMeta } };

export interface ServerCard {
  $schema: typeof SERVER_CARD_SCHEMA;
  name: string;
  version: string;
  title: string;
  description: string;
  remotes: {
    type: 'streamable-http';
    url: string;
    supportedProtocolVersions: string[];
    headers: {
      name: string;
      description: string;
      isRequired: boolean;
      isSecret: boolean;
      value: string;
      variables: Record<string, { description: string; isRequired: boolean; isSecret: boolean }>;
    }[];
  }[];
  _meta: {
    [SERVER_CARD_META_KEY]: {
      /** Exactly what `initialize` answers as `serverInfo`. */
      serverInfo: { name: string; title: string; version: string };
      instructions: string;
      authorization: {
        modes: string[];
        authorizationServers: string[];
        protectedResourceMetadata: string;
        scopesSupported: string[];
      };
      tools: CardTool[];
      resourceTemplates: {
        name: string;
        title: string;
        description: string;
        uriTemplate: string;
        mimeType: string;
        _meta: { [TOOL_SCOPES_META_KEY]: ScopesMeta };
      }[];
      prompts: {
        name: string;
        title: string;
        description: string;
        arguments: { name: string; description?: string; required: boolean }[];
        _meta: { [TOOL_SCOPES_META_KEY]: ScopesMeta };
      }[];
    };
  };
}

export interface ServerCardSource<Deps> {
  /** The service's short name (`database`) and what `initialize` calls it. */
  name: string;
  serverInfo: { name: string; title: string; version: string };
  instructions: string;
  /** Only the tools this replica exposes, in the pipeline's order. */
  tools: readonly AnyTool<Deps>[];
  resources: readonly ResourceTemplateDefinition<Deps>[];
  prompts: readonly PromptDefinition<Deps>[];
  config: Pick<RuntimeConfig, 'PUBLIC_URL' | 'AUTH_MODE' | 'AUTH_SERVERS'>;
}

/** Builds the card from the same definitions the pipeline lists and dispatches, so the two cannot disagree. */
export function buildServerCard<Deps>(source: ServerCardSource<Deps>): ServerCard {
  const { config } = source;
  const scopes = (required: readonly string[], optional: readonly string[] = []) => ({
    [TOOL_SCOPES_META_KEY]: { required: [...required], optional: [...optional] },
  });
  return {
    $schema: SERVER_CARD_SCHEMA,
    name: `${SERVER_CARD_NAMESPACE}/${source.name}`,
    version: source.serverInfo.version,
    title: source.serverInfo.title,
    description: summaryOf(source.instructions, source.serverInfo.title),
    remotes: [
      {
        type: 'streamable-http',
        url: config.PUBLIC_URL,
        supportedProtocolVersions: [...PROTOCOL_VERSIONS],
        headers: [authorizationHeader(config.AUTH_MODE)],
      },
    ],
    _meta: {
      [SERVER_CARD_META_KEY]: {
        serverInfo: { ...source.serverInfo },
        instructions: source.instructions,
        authorization: {
          modes: [...config.AUTH_MODE],
          authorizationServers: [...config.AUTH_SERVERS],
          protectedResourceMetadata: resourceMetadataUrl(config.PUBLIC_URL),
          // The same list the RFC 9728 metadata and the 401 challenge advertise (ToolPipeline.scopesSupported).
          scopesSupported: scopesOf(source.tools),
        },
        tools: source.tools.map((tool) => ({
          ...describeTool(tool),
          _meta: scopes(tool.scopes, tool.optionalScopes),
        })),
        resourceTemplates: source.resources.map((resource) => ({
          name: resource.name,
          title: resource.title,
          description: resource.description,
          uriTemplate: resource.uriTemplate,
          mimeType: resource.mimeType,
          _meta: scopes(resource.scopes),
        })),
        prompts: source.prompts.map((prompt) => ({
          name: prompt.name,
          title: prompt.title,
          description: prompt.description,
          arguments: Object.entries(prompt.args).map(([name, arg]) => {
            const schema = arg as z.ZodType;
            return {
              name,
              ...(schema.description ? { description: schema.description } : {}),
              required: !schema.safeParse(undefined).success,
            };
          }),
          _meta: scopes(prompt.scopes),
        })),
      },
    },
  };
}

/** How a client authenticates, as a server.json header input: a Bearer credential, unless AUTH_MODE is none. */
function authorizationHeader(modes: readonly string[]): ServerCard['remotes'][number]['headers'][number] {
  // Worded for every mode at once, so the umbrella chart can set authorization.modes without rewriting it.
  const required = !modes.includes('none');
  const description = required
    ? "A Bearer credential, as the server's AUTH_MODE allows: an API key (which may be sent as X-API-Key instead) " +
      'or an OAuth access token whose audience is this URL.'
    : 'Not needed: this server runs without authentication.';
  return {
    name: 'Authorization',
    description,
    isRequired: required,
    isSecret: true,
    value: 'Bearer {token}',
    variables: { token: { description: 'An API key or OAuth access token.', isRequired: required, isSecret: true } },
  };
}

/** The card's one-line description (the draft caps it at 100 characters): the instructions' first sentence. */
function summaryOf(instructions: string, fallback: string): string {
  const first = instructions.split(/(?<=\.)\s/)[0]?.trim() || fallback;
  if (first.length <= 100) return first;
  const cut = first.slice(0, 99);
  return `${cut.slice(0, cut.lastIndexOf(' ') > 60 ? cut.lastIndexOf(' ') : 99)}…`;
}

/**
 * The card a server of this definition serves with this environment, without starting it: what
 * `npm run catalog` writes to charts/flotilla/files/catalog. Only the runtime's variables are read
 * (PUBLIC_URL, AUTH_*, READ_ONLY, TOOLS_ENABLED, TOOLS_DISABLED); tools a service leaves off for its own
 * configuration (database writes without DB_WRITABLE_TABLES) are listed, since they exist in the fleet.
 */
export function serverCardOf<Deps>(definition: ServiceDefinition<Deps>, env: NodeJS.ProcessEnv): ServerCard {
  const config = loadConfig({}, { env, transport: 'http' });
  return buildServerCard({
    name: definition.name,
    serverInfo: serverIdentityOf(definition),
    instructions: definition.instructions,
    tools: definition.tools.filter((tool) => exposureOf(tool, config).exposed),
    resources: definition.resources ?? [],
    prompts: definition.prompts ?? [],
    config,
  });
}
