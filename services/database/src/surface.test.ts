import { connectMcpClient, mintApiKey, writeApiKeysFile } from '@flotilla/testkit';
import { type Client, ProtocolErrorCode, ResourceNotFoundError } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TableDescription } from './catalog.js';
import { RUNTIME_ROLE, startTestDatabase, type TestDatabase } from './testing/harness.js';

/** A table whose name needs quoting in SQL and percent-encoding in a URI. */
const AWKWARD_TABLE = 'Delivery notes/EU';

let db: TestDatabase;

const METHOD_NOT_FOUND: number = ProtocolErrorCode.MethodNotFound;

/** The JSON-RPC error code a request was refused with. */
async function rejectionCode(request: Promise<unknown>): Promise<number | undefined> {
  const error = (await request.then(
    () => undefined,
    (reason: unknown) => reason,
  )) as { code?: unknown; data?: { text?: string } } | undefined;
  if (typeof error?.code === 'number') return error.code;
  // On the 2026-07-28 era a method-not-found is answered with HTTP 404, which the client reports
  // as an HTTP error carrying the JSON-RPC error body.
  return (JSON.parse(error?.data?.text ?? '{}') as { error?: { code?: number } }).error?.code;
}

function textOf(result: { contents: unknown[] }): string {
  const [content] = result.contents as { text?: string }[];
  if (typeof content?.text !== 'string') throw new Error('expected a text resource');
  return content.text;
}

beforeAll(async () => {
  db = await startTestDatabase({
    prepare: `
      CREATE TABLE secrets (id int PRIMARY KEY, token text);
      COMMENT ON TABLE secrets IS 'Never shown to the reader role.';
      CREATE TABLE "${AWKWARD_TABLE}" (id int PRIMARY KEY, note text);
    `,
    serverEnv: { DB_MAX_ROWS: '500' },
  });
  await db.admin(`REVOKE SELECT ON secrets FROM ${RUNTIME_ROLE}`);
});

afterAll(async () => {
  await db?.stop();
});

describe('table resources', () => {
  let client: Client;
  beforeAll(async () => {
    client = await connectMcpClient((await db.startServer()).mcpUrl);
  });
  afterAll(() => client.close());

  it('advertises the table template', async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates).toEqual([
      expect.objectContaining({
        name: 'table',
        uriTemplate: 'postgres://table/{schema}/{table}',
        mimeType: 'application/json',
      }),
    ]);
  });

  it('lists one resource per readable table, described by its comment', async () => {
    const { resources } = await client.listResources();
    expect(resources.map((resource) => resource.name).sort()).toEqual(
      ['customers', 'order_items', 'orders', 'products', AWKWARD_TABLE].map((name) => `public.${name}`).sort(),
    );
    expect(resources.find((resource) => resource.name === 'public.orders')).toEqual({
      uri: 'postgres://table/public/orders',
      name: 'public.orders',
      title: 'Table public.orders',
      description: 'One checkout by one customer.',
      mimeType: 'application/json',
    });
    // A table without a comment gets its own description, not the template's generic one.
    expect(resources.find((resource) => resource.name === `public.${AWKWARD_TABLE}`)).toMatchObject({
      uri: 'postgres://table/public/Delivery%20notes%2FEU',
      description: `Table public.${AWKWARD_TABLE} (no comment).`,
    });
  });

  it('reads a table as its JSON description with columns and keys', async () => {
    const result = await client.readResource({ uri: 'postgres://table/public/order_items' });
    expect(result.contents).toHaveLength(1);
    expect(result.contents[0]).toMatchObject({
      uri: 'postgres://table/public/order_items',
      mimeType: 'application/json',
    });
    const description = JSON.parse(textOf(result)) as TableDescription;
    expect(description).toMatchObject({
      schema: 'public',
      name: 'order_items',
      kind: 'table',
      comment: 'The products in an order and how many of each.',
      primaryKey: ['order_id', 'product_id'],
    });
    expect(description.columns.map((column) => column.name)).toEqual(['order_id', 'product_id', 'quantity']);
    expect(description.foreignKeys.map((fk) => fk.referencesTable).sort()).toEqual(['orders', 'products']);
  });

  it('round-trips a name that needs percent-encoding', async () => {
    const { resources } = await client.listResources();
    const awkward = resources.find((resource) => resource.name === `public.${AWKWARD_TABLE}`);
    const description = JSON.parse(textOf(await client.readResource({ uri: awkward?.uri ?? '' })));
    expect(description).toMatchObject({ name: AWKWARD_TABLE, primaryKey: ['id'] });
  });

  it('answers an unknown table with resource-not-found, and keeps serving', async () => {
    const uri = 'postgres://table/public/no_such_table';
    const failure = await client.readResource({ uri }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ResourceNotFoundError);
    expect(failure).toMatchObject({ code: ProtocolErrorCode.InvalidParams, data: { uri } });
    expect(textOf(await client.readResource({ uri: 'postgres://table/public/orders' }))).toContain('customer_id');
  });

  it('neither lists nor reads a table the role may not SELECT, nor a schema outside DB_ALLOWED_SCHEMAS', async () => {
    const { resources } = await client.listResources();
    expect(resources.map((resource) => resource.uri)).not.toContain('postgres://table/public/secrets');
    for (const uri of ['postgres://table/public/secrets', 'postgres://table/pg_catalog/pg_authid']) {
      const failure = await client.readResource({ uri }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ResourceNotFoundError);
      expect(JSON.stringify(failure)).not.toContain('Never shown');
    }
  });

  it('refuses names that cannot be PostgreSQL identifiers with invalid params', async () => {
    for (const uri of ['postgres://table/public/%E0%A4%A', `postgres://table/public/${'x'.repeat(64)}`]) {
      const failure = await client.readResource({ uri }).catch((error: unknown) => error);
      expect(failure).not.toBeInstanceOf(ResourceNotFoundError);
      expect(failure).toMatchObject({ code: ProtocolErrorCode.InvalidParams });
      expect(String((failure as Error).message)).toMatch(/percent-encoding|PostgreSQL identifier/);
    }
  });
});

describe('the explore_schema prompt', () => {
  let client: Client;
  beforeAll(async () => {
    client = await connectMcpClient((await db.startServer()).mcpUrl);
  });
  afterAll(() => client.close());

  it('is listed with a required question and an optional schema', async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts).toHaveLength(1);
    expect(prompts[0]).toMatchObject({ name: 'explore_schema', title: expect.any(String) });
    const args = Object.fromEntries((prompts[0]?.arguments ?? []).map((arg) => [arg.name, arg.required ?? false]));
    expect(args).toEqual({ question: true, schema: false });
  });

  it('renders the question, the readable tables with comments, and the rules', async () => {
    const question = 'Which five customers in NL spent the most last month?';
    const result = await client.getPrompt({ name: 'explore_schema', arguments: { question } });
    expect(result.messages).toHaveLength(1);
    expect(result.messages[0]?.role).toBe('user');
    const content = result.messages[0]?.content as { type: string; text: string };
    expect(content.type).toBe('text');
    const { text } = content;
    expect(text).toContain(`Question: ${question}`);
    expect(text).toContain('- public.orders (~2000 rows): One checkout by one customer.');
    expect(text).toContain('- public.customers (~200 rows): People who have an account in the shop.');
    expect(text).toContain(`- public."${AWKWARD_TABLE}": no comment`);
    expect(text).not.toContain('secrets');
    for (const rule of ['describe_table', '$1', 'ORDER BY', 'LIMIT', 'explain', 'truncated: true']) {
      expect(text).toContain(rule);
    }
    expect(text).toContain('100 rows by default');
    expect(text).toContain('at most 500');
  });

  it('refuses a schema outside DB_ALLOWED_SCHEMAS with a message naming the available ones', async () => {
    const failure = await client
      .getPrompt({ name: 'explore_schema', arguments: { question: 'anything', schema: 'pg_catalog' } })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: ProtocolErrorCode.InvalidParams });
    expect(String((failure as Error).message)).toContain('available schemas: public');
  });

  it('refuses a call without a question', async () => {
    const failure = await client.getPrompt({ name: 'explore_schema', arguments: {} }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: ProtocolErrorCode.InvalidParams });
  });
});

describe('scopes', () => {
  let mcpUrl: string;
  const reader = mintApiKey({ subject: 'reader', tenant: 'acme', scopes: ['db:read'] });
  const nobody = mintApiKey({ subject: 'nobody', tenant: 'acme', scopes: [] });

  beforeAll(async () => {
    const keysFile = await writeApiKeysFile([reader.entry, nobody.entry]);
    mcpUrl = (await db.startServer({ AUTH_MODE: 'api-key', AUTH_API_KEYS_FILE: keysFile })).mcpUrl;
  });

  it('offers resources and prompts to a caller with db:read', async () => {
    const client = await connectMcpClient(mcpUrl, { token: reader.key });
    try {
      expect((await client.listResources()).resources).toHaveLength(5);
      expect((await client.listPrompts()).prompts.map((prompt) => prompt.name)).toEqual(['explore_schema']);
    } finally {
      await client.close();
    }
  });

  it('hides resources and prompts from a caller without db:read, and refuses them when asked directly', async () => {
    const client = await connectMcpClient(mcpUrl, { token: nobody.key });
    try {
      const capabilities = client.getServerCapabilities();
      expect(capabilities?.tools).toBeDefined();
      expect(capabilities?.resources).toBeUndefined();
      expect(capabilities?.prompts).toBeUndefined();
      // Bypass the client's capability shortcut: the server itself must refuse.
      const orders = { uri: 'postgres://table/public/orders' };
      expect(await rejectionCode(client.request({ method: 'resources/read', params: orders }))).toBe(METHOD_NOT_FOUND);
      expect(await rejectionCode(client.request({ method: 'resources/list', params: {} }))).toBe(METHOD_NOT_FOUND);
      const explore = { name: 'explore_schema', arguments: { question: 'q' } };
      expect(await rejectionCode(client.request({ method: 'prompts/get', params: explore }))).toBe(METHOD_NOT_FOUND);
    } finally {
      await client.close();
    }
  });
});
