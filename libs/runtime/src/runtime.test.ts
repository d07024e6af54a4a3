import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import {
  connectMcpClient,
  freePort,
  mintApiKey,
  type RedisInstance,
  startRedis,
  startTestIssuer,
  type TestIssuer,
  TOOL_ERROR_META_KEY,
  writeApiKeysFile,
} from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type RunningService, startService } from './service.js';
import { type FixtureDeps, fixtureEnvironment, fixtureService } from './testing/fixture-service.js';

let issuer: TestIssuer;
let redis: RedisInstance;
let keysFile: string;
const readerKey = mintApiKey({ subject: 'reader', tenant: 'acme', scopes: ['test:read'] });
const writerKey = mintApiKey({ subject: 'writer', tenant: 'acme', scopes: ['test:read', 'test:write'] });
const running: RunningService[] = [];
const logLines: Record<string, unknown>[] = [];

function captureLogs(): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
}

async function start(env: Record<string, string> = {}, deps: Partial<FixtureDeps> = {}) {
  const service = await startService({
    definition: fixtureService,
    environment: {},
    transport: 'http',
    // Logs on: some tests read them.
    env: {
      ...fixtureEnvironment({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, keysFile }),
      LOG_LEVEL: 'info',
      ...env,
    },
    logDestination: captureLogs(),
    setup: async () => ({
      deps: { notes: [], aborted: { count: 0 }, ...deps },
      dependencies: [],
      close: async () => {},
    }),
  });
  running.push(service);
  return service;
}

// SPEC §2: isError, one text for the model, the payload in _meta, and no structuredContent for clients to reject.
const ErrorResult = z
  .object({
    isError: z.literal(true),
    content: z.tuple([z.object({ type: z.literal('text'), text: z.string() })]),
    structuredContent: z.never().optional(),
    _meta: z.object({
      [TOOL_ERROR_META_KEY]: z.strictObject({
        code: z.string(),
        message: z.string(),
        retryable: z.boolean(),
        retryAfterMs: z.number().optional(),
        errorId: z.uuid(),
      }),
    }),
  })
  .transform((result) => ({ error: result._meta[TOOL_ERROR_META_KEY], text: result.content[0].text }));

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

/**
 * A POST through node:http on a connection of its own: fetch reuses connections and may not set
 * Host. Resolves with the status and the body text.
 */
function rawPost(
  url: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    });
    request.on('error', reject);
    request.on('response', async (response) => {
      let text = '';
      for await (const chunk of response) text += chunk;
      resolve({ status: response.statusCode ?? 0, text });
    });
    request.end(JSON.stringify(body));
  });
}

type ReadyBody = { dependencies: Record<string, { status: string }> };

const listTools = { jsonrpc: '2.0', id: 1, method: 'tools/list' };

/** A standalone 2026-07-28 `tools/call` of the fixture's echo tool, as the official client sends it. */
const echoCall = (args: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id: 'same-id',
  method: 'tools/call',
  params: {
    name: 'echo',
    arguments: args,
    _meta: {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': { name: 'test', version: '1.0.0' },
      'io.modelcontextprotocol/clientCapabilities': {},
    },
  },
});
const modernHeaders = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' };

beforeAll(async () => {
  [issuer, redis] = await Promise.all([startTestIssuer(), startRedis()]);
  keysFile = await writeApiKeysFile([readerKey.entry, writerKey.entry]);
});

afterAll(async () => {
  await Promise.all(running.map((service) => service.shutdown()));
  await Promise.all([issuer?.close(), redis?.destroy()]);
});

describe('authentication', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await start();
  });

  it('answers 401 with a resource_metadata challenge when no credentials are sent', async () => {
    const response = await post(service.mcpUrl, listTools);
    expect(response.status).toBe(401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp"');
    expect(challenge).toContain('scope="test:read test:write"');
  });

  it('serves RFC 9728 metadata at both well-known locations', async () => {
    const origin = new URL(service.mcpUrl).origin;
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const response = await fetch(`${origin}${path}`);
      expect(response.status).toBe(200);
      const document = (await response.json()) as Record<string, unknown>;
      expect(document.resource).toBe('http://127.0.0.1/mcp');
      expect(document.authorization_servers).toEqual([issuer.issuer]);
      expect(document.scopes_supported).toEqual(['test:read', 'test:write']);
    }
  });

  it.each([
    ['a token for another audience', { audience: 'https://other.example.com/mcp' }],
    ['an expired token', { expiresInSeconds: -600 }],
    ['a token signed with an unknown key', { signWithUnknownKey: true }],
    ['a token from another issuer', { issuer: 'https://evil.example.com' }],
  ])('rejects %s with 401 invalid_token', async (_label, overrides) => {
    const token = await issuer.mint({
      subject: 'ana',
      tenant: 'acme',
      scopes: ['test:read'],
      audience: 'http://127.0.0.1/mcp',
      ...overrides,
    });
    const response = await post(service.mcpUrl, listTools, { authorization: `Bearer ${token}` });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('rejects an unknown API key and accepts a known one', async () => {
    const bad = await post(service.mcpUrl, listTools, { authorization: 'Bearer flt_not-a-key' });
    expect(bad.status).toBe(401);
    const good = await post(service.mcpUrl, listTools, { 'x-api-key': readerKey.key });
    expect(good.status).toBe(200);
  });

  it('runs a valid JWT as its subject and tenant, through the official client', async () => {
    const token = await issuer.mint({
      subject: 'ana',
      tenant: 'globex',
      scopes: ['test:read'],
      audience: 'http://127.0.0.1/mcp',
    });
    const client = await connectMcpClient(service.mcpUrl, { token });
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(result.structuredContent).toEqual({ text: 'hi', tenant: 'globex' });
    expect(result.content).toEqual([{ type: 'text', text: JSON.stringify({ text: 'hi', tenant: 'globex' }) }]);
    await client.close();
  });
});

describe('authorization', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await start();
  });

  it('lists only the tools the caller has scopes for', async () => {
    const reader = await connectMcpClient(service.mcpUrl, { token: readerKey.key });
    const writer = await connectMcpClient(service.mcpUrl, { token: writerKey.key });
    const readerTools = (await reader.listTools()).tools.map((tool) => tool.name).sort();
    const writerTools = (await writer.listTools()).tools.map((tool) => tool.name).sort();
    expect(readerTools).toEqual(['echo', 'fail', 'limited', 'slow']);
    expect(writerTools).toEqual(['add_note', 'echo', 'fail', 'limited', 'slow']);
    await Promise.all([reader.close(), writer.close()]);
  });

  it('answers 403 insufficient_scope for a tool the caller lacks scopes for', async () => {
    const response = await post(
      service.mcpUrl,
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'add_note', arguments: { text: 'x' } } },
      { authorization: `Bearer ${readerKey.key}` },
    );
    expect(response.status).toBe(403);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="test:write"');
  });

  it('describes every tool with title, strict input schema, output schema and explicit annotations', async () => {
    const client = await connectMcpClient(service.mcpUrl, { token: writerKey.key });
    for (const tool of (await client.listTools()).tools) {
      expect(tool.title).toBeTruthy();
      expect(tool.inputSchema.additionalProperties).toBe(false);
      expect(tool.outputSchema?.type).toBe('object');
      expect(Object.keys(tool.annotations ?? {}).sort()).toEqual(
        ['destructiveHint', 'idempotentHint', 'openWorldHint', 'readOnlyHint', 'title'].sort(),
      );
    }
    await client.close();
  });
});

describe('READ_ONLY and tool selection', () => {
  it('hides and refuses write tools in read-only mode, even for a caller with write scopes', async () => {
    const service = await start({ READ_ONLY: 'true', TOOLS_ENABLED: 'echo,add_note' });
    const client = await connectMcpClient(service.mcpUrl, { token: writerKey.key });
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
    const refused = ErrorResult.parse(await client.callTool({ name: 'add_note', arguments: { text: 'x' } }));
    expect(refused.error.code).toBe('FORBIDDEN');
    expect(refused.error.message).toContain('read-only');
    await client.close();
  });

  it('narrows with TOOLS_DISABLED', async () => {
    const service = await start({ TOOLS_DISABLED: 'slow,fail' });
    const client = await connectMcpClient(service.mcpUrl, { token: writerKey.key });
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual(['add_note', 'echo', 'limited']);
    await client.close();
  });
});

describe('the tool pipeline', () => {
  let service: RunningService;
  const deps = { notes: [], aborted: { count: 0 } };
  beforeAll(async () => {
    service = await start({ TOOL_TIMEOUT_MS: '300', REDIS_URL: redis.url }, deps);
  });

  it('refuses invalid and unknown arguments with INVALID_ARGUMENT', async () => {
    const client = await connectMcpClient(service.mcpUrl, { token: readerKey.key });
    const wrongType = ErrorResult.parse(await client.callTool({ name: 'echo', arguments: { text: 42 } }));
    expect(wrongType.error).toMatchObject({ code: 'INVALID_ARGUMENT', retryable: false });
    expect(wrongType.error.message).toContain('text');
    const extra = ErrorResult.parse(await client.callTool({ name: 'echo', arguments: { text: 'a', sql: 'drop' } }));
    expect(extra.error.code).toBe('INVALID_ARGUMENT');
    expect(extra.error.message).toContain('sql');
    expect(extra.text).toBe(
      `INVALID_ARGUMENT: ${extra.error.message}\nRetrying the same call will not help. errorId: ${extra.error.errorId}`,
    );
    // A lone surrogate is valid JSON but no valid text: refused for every tool before its own schema runs.
    const surrogate = ErrorResult.parse(await client.callTool({ name: 'echo', arguments: { text: 'a\ud800b' } }));
    expect(surrogate.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('text: the text is not valid Unicode'),
    });
    await client.close();
  });

  it('refuses to start with an idle memory release shorter than a second, and starts with it off', async () => {
    await expect(start({ MEMORY_RELEASE_IDLE_MS: '500' })).rejects.toThrow(
      /MEMORY_RELEASE_IDLE_MS must be 0 \(off\) or at least 1000 ms/,
    );
    const off = await start({ MEMORY_RELEASE_IDLE_MS: '0' });
    expect(off.config.MEMORY_RELEASE_IDLE_MS).toBe(0);
  });

  it('answers an unknown tool with a JSON-RPC error', async () => {
    const client = await connectMcpClient(service.mcpUrl, { token: readerKey.key });
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/Unknown tool/);
    await client.close();
  });

  it('answers a 2026-07-28 tools/call on its direct path exactly as the SDK handler does', async () => {
    const headers = { authorization: `Bearer ${readerKey.key}`, ...modernHeaders };
    // The same tool name Base64-encoded, as the standard allows: the SDK decodes it, the direct path
    // takes only the plain form, so this request is answered by the SDK's handler.
    const encodedName = `=?base64?${Buffer.from('echo').toString('base64')}?=`;
    const withoutErrorId = (text: string) =>
      text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID');
    for (const args of [{ text: 'hello' }, { text: 42 }]) {
      const direct = await post(service.mcpUrl, echoCall(args), { ...headers, 'mcp-name': 'echo' });
      const viaSdk = await post(service.mcpUrl, echoCall(args), { ...headers, 'mcp-name': encodedName });
      // Two paths really answered: the direct one sends a Content-Length, the SDK streams its body.
      expect(direct.headers.get('content-length')).not.toBeNull();
      expect(viaSdk.headers.get('content-length')).toBeNull();
      expect(direct.status).toBe(viaSdk.status);
      expect(direct.headers.get('content-type')).toBe(viaSdk.headers.get('content-type'));
      expect(withoutErrorId(await direct.text())).toBe(withoutErrorId(await viaSdk.text()));
    }
  });

  it('answers a plain 2025-era tools/call on its direct path exactly as the SDK handler does', async () => {
    const withoutErrorId = (text: string) =>
      text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID');
    const legacyCall = (id: string | number, args: Record<string, unknown>) => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'echo', arguments: args, _meta: { progressToken: 3 } },
    });
    for (const version of ['2025-11-25', '2025-06-18']) {
      for (const [id, args] of [
        [7, { text: 'hello "there"\n' }],
        ['call-8', { text: 42 }],
      ] as const) {
        const headers = { authorization: `Bearer ${readerKey.key}`, 'mcp-protocol-version': version };
        const direct = await post(service.mcpUrl, legacyCall(id, args), headers);
        // The lane takes only the exact media type official clients send; with a charset, the SDK answers.
        const viaSdk = await post(service.mcpUrl, legacyCall(id, args), {
          ...headers,
          'content-type': 'application/json; charset=utf-8',
        });
        expect(direct.headers.get('content-length')).not.toBeNull();
        expect(viaSdk.headers.get('content-length')).toBeNull();
        expect(direct.status).toBe(viaSdk.status);
        for (const header of ['content-type', 'cache-control', 'x-accel-buffering']) {
          expect(direct.headers.get(header)).toBe(viaSdk.headers.get(header));
        }
        expect(withoutErrorId(await direct.text())).toBe(withoutErrorId(await viaSdk.text()));
      }
    }
  });

  it('leaves every 2025-era tools/call the SDK would refuse or treat differently to the SDK', async () => {
    const headers = { authorization: `Bearer ${readerKey.key}`, 'mcp-protocol-version': '2025-11-25' };
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'a' } } };
    const variants: [Record<string, unknown>, Record<string, string>][] = [
      [{ ...call, id: 1.5 }, {}],
      [{ ...call, extra: true }, {}],
      [{ ...call, params: { ...call.params, arguments: ['a'] } }, {}],
      [{ ...call, params: { ...call.params, _meta: { progressToken: { no: 1 } } } }, {}],
      [{ ...call, params: { ...call.params, task: { ttl: 1000 } } }, {}],
      [call, { accept: 'application/json' }],
      [call, { 'mcp-session-id': 'abc' }],
    ];
    for (const [body, extra] of variants) {
      const response = await post(service.mcpUrl, body, { ...headers, ...extra });
      // The SDK's handler streams its answers (no Content-Length); the lane never does.
      expect(response.headers.get('content-length'), JSON.stringify([body, extra])).toBeNull();
      await response.body?.cancel();
    }
  });

  it('stops a slow call at TOOL_TIMEOUT_MS and aborts its signal', async () => {
    const client = await connectMcpClient(service.mcpUrl, { token: readerKey.key });
    const started = Date.now();
    const result = ErrorResult.parse(await client.callTool({ name: 'slow', arguments: { ms: 5000 } }));
    expect(Date.now() - started).toBeLessThan(2500);
    expect(result.error).toMatchObject({ code: 'TIMEOUT', retryable: true });
    await expect.poll(() => deps.aborted.count).toBeGreaterThan(0);
    await client.close();
  });

  it('aborts the handler when a 2026-era client cancels the call (the HTTP request is closed)', async () => {
    const own = { notes: [], aborted: { count: 0 } };
    const patient = await start({ TOOL_TIMEOUT_MS: '60000' }, own);
    const client = await connectMcpClient(patient.mcpUrl, { token: readerKey.key, era: 'modern' });
    const controller = new AbortController();
    const started = Date.now();
    const call = client.callTool({ name: 'slow', arguments: { ms: 20_000 } }, { signal: controller.signal });
    setTimeout(() => controller.abort('the user clicked stop'), 200);
    await expect(call).rejects.toThrow();
    await expect.poll(() => own.aborted.count).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    await client.close();
  });

  it('maps an unexpected failure to INTERNAL without leaking its message, and logs it under the errorId', async () => {
    const client = await connectMcpClient(service.mcpUrl, { token: readerKey.key });
    const result = ErrorResult.parse(await client.callTool({ name: 'fail', arguments: { kind: 'crash' } }));
    const text = JSON.stringify(result);
    expect(result.error.code).toBe('INTERNAL');
    expect(text).not.toMatch(/hunter2|postgres:\/\/|db\.internal|ECONNREFUSED|at .*\.js/);
    const { errorId } = result.error;
    await expect.poll(() => logLines.some((line) => line.errorId === errorId && line.level === 'error')).toBe(true);
    const notFound = ErrorResult.parse(await client.callTool({ name: 'fail', arguments: { kind: 'not_found' } }));
    expect(notFound.error).toMatchObject({
      code: 'NOT_FOUND',
      message: 'No such thing; list things first.',
    });
    await client.close();
  });

  it('enforces a per-tool limit with RATE_LIMITED and retryAfterMs, and tells the model when to retry', async () => {
    const client = await connectMcpClient(service.mcpUrl, { token: writerKey.key });
    expect((await client.callTool({ name: 'limited', arguments: {} })).isError).toBeFalsy();
    expect((await client.callTool({ name: 'limited', arguments: {} })).isError).toBeFalsy();
    const third = ErrorResult.parse(await client.callTool({ name: 'limited', arguments: {} }));
    expect(third.error.code).toBe('RATE_LIMITED');
    expect(third.error.retryAfterMs).toBeGreaterThan(0);
    expect(third.text).toBe(
      `RATE_LIMITED: ${third.error.message}\nRetryable after ${third.error.retryAfterMs} ms. errorId: ${third.error.errorId}`,
    );
    await client.close();
  });

  it('writes one audit line per call, with hashed arguments and no argument values', async () => {
    const client = await connectMcpClient(service.mcpUrl, { token: readerKey.key });
    const args = { text: 'secret-value-123' };
    await client.callTool({ name: 'echo', arguments: args });
    const argsSha256 = createHash('sha256').update(JSON.stringify(args)).digest('hex');
    await expect
      .poll(() => logLines.filter((line) => line.event === 'audit' && line.argsSha256 === argsSha256))
      .toEqual([
        expect.objectContaining({
          subject: 'reader',
          tenant: 'acme',
          tool: 'echo',
          outcome: 'success',
          errorCode: null,
        }),
      ]);
    expect(JSON.stringify(logLines)).not.toContain('secret-value-123');
    await client.close();
  });

  it('exposes the SPEC metric names on /metrics after calls', async () => {
    const client = await connectMcpClient(service.mcpUrl, { token: readerKey.key });
    await client.callTool({ name: 'echo', arguments: { text: 'm' } });
    await client.close();
    await post(service.mcpUrl, listTools);
    const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
    for (const name of [
      'mcp_server_operation_duration_seconds_bucket{',
      'mcp_tool_calls_total{tool="echo",outcome="success"',
      'mcp_auth_failures_total{reason="missing"',
      'mcp_rate_limited_total{scope="tool"',
      'mcp_inflight_requests',
      'flotilla_dependency_up{dependency="redis"',
      'process_cpu_user_seconds_total',
    ]) {
      expect(metrics).toContain(name);
    }
    expect(metrics).toMatch(
      /mcp_server_operation_duration_seconds_count\{[^}]*mcp_method_name="tools\/call",gen_ai_tool_name="echo"/,
    );
  });
});

describe('transport guards', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await start({ ALLOWED_ORIGINS: 'https://app.example.com', MAX_BODY_BYTES: '2048' });
  });
  const auth = () => ({ authorization: `Bearer ${readerKey.key}` });

  it('refuses a disallowed Origin with 403 and admits an allowed one', async () => {
    expect((await post(service.mcpUrl, listTools, { ...auth(), origin: 'https://evil.example.com' })).status).toBe(403);
    expect((await post(service.mcpUrl, listTools, { ...auth(), origin: 'https://app.example.com' })).status).toBe(200);
  });

  it('refuses a Host that is not allowed (DNS rebinding)', async () => {
    const { status } = await rawPost(service.mcpUrl, listTools, { ...auth(), host: 'attacker.example.com' });
    expect(status).toBe(403);
  });

  it('caps the body at MAX_BODY_BYTES with 413', async () => {
    const big = { ...listTools, params: { padding: 'x'.repeat(4096) } };
    expect((await post(service.mcpUrl, big, auth())).status).toBe(413);
  });

  it('answers a body it cannot decode with 4xx, never 500 (found by test/fuzz)', async () => {
    const gzipped = await post(service.mcpUrl, listTools, { ...auth(), 'content-encoding': 'gzip' });
    expect(gzipped.status).toBe(400);
    expect(await gzipped.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: null });
    const unknownCharset = await post(service.mcpUrl, listTools, {
      ...auth(),
      'content-type': 'application/json; charset=no-such-charset',
    });
    expect(unknownCharset.status).toBe(415);
  });

  it('refuses JSON nested deeper than 128 levels with 400 before it reaches the SDK (found by test/fuzz)', async () => {
    const nested = (depth: number): unknown => (depth === 0 ? 1 : [nested(depth - 1)]);
    // The body is level 1 and params level 2: a cursor of 126 arrays is 128 levels in all.
    const within = await post(service.mcpUrl, { ...listTools, params: { cursor: nested(126) } }, auth());
    expect(within.status).not.toBe(400);
    const deeper = await post(service.mcpUrl, { ...listTools, params: { cursor: nested(127) } }, auth());
    expect(deeper.status).toBe(400);
    expect(await deeper.json()).toMatchObject({ error: { code: -32600, message: expect.stringContaining('128') } });
  });

  it('labels a method MCP does not define as _OTHER in metrics, not by the string sent (found by test/fuzz)', async () => {
    await post(service.mcpUrl, { jsonrpc: '2.0', id: 7, method: 'made/up/by-the-client' }, auth());
    const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
    expect(metrics).not.toContain('made/up/by-the-client');
    expect(metrics).toContain('mcp_method_name="_OTHER"');
  });

  it('rejects an unsupported MCP-Protocol-Version with 400', async () => {
    expect((await post(service.mcpUrl, listTools, { ...auth(), 'mcp-protocol-version': '1999-01-01' })).status).toBe(
      400,
    );
  });
});

describe('shared state across replicas', () => {
  it('shares one per-principal budget between two instances on one Redis and answers 429 with Retry-After', async () => {
    const env = { REDIS_URL: redis.url, RATE_LIMIT_PER_MINUTE: '5' };
    const [a, b] = await Promise.all([start(env), start(env)]);
    const key = mintApiKey({ subject: 'budget', tenant: 'acme', scopes: ['test:read'] });
    const file = await writeApiKeysFile([key.entry]);
    const [ka, kb] = await Promise.all([
      start({ ...env, AUTH_API_KEYS_FILE: file }),
      start({ ...env, AUTH_API_KEYS_FILE: file }),
    ]);
    running.push(a, b);
    const headers = { authorization: `Bearer ${key.key}` };
    for (let i = 0; i < 3; i++) expect((await post(ka.mcpUrl, listTools, headers)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await post(kb.mcpUrl, listTools, headers)).status).toBe(200);
    const limited = await post(kb.mcpUrl, listTools, headers);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await post(ka.mcpUrl, listTools, headers)).status).toBe(429);
  });

  it('serves one client whose requests alternate between two replicas, in both protocol eras', async () => {
    const [a, b] = await Promise.all([start({ REDIS_URL: redis.url }), start({ REDIS_URL: redis.url })]);
    for (const era of ['modern', 'legacy'] as const) {
      const client = await connectMcpClient(a.mcpUrl, { token: readerKey.key, roundRobin: [a.mcpUrl, b.mcpUrl], era });
      for (let i = 0; i < 6; i++) {
        const result = await client.callTool({ name: 'echo', arguments: { text: `n${i}` } });
        expect(result.structuredContent).toEqual({ text: `n${i}`, tenant: 'acme' });
      }
      expect((await client.listTools()).tools.length).toBe(4);
      await client.close();
    }
  });
  it('lets two replicas share one port with REUSE_PORT, the kernel spreading connections between them', async () => {
    const port = String(await freePort());
    const env = { REDIS_URL: redis.url, REUSE_PORT: 'true', PORT: port };
    const [a, b] = [await start(env), await start(env)];
    expect(a.mcpUrl).toBe(b.mcpUrl);
    // One new connection per call (no keep-alive), so the kernel places each anew.
    const headers = { authorization: `Bearer ${readerKey.key}`, 'mcp-name': 'echo', ...modernHeaders };
    for (let i = 0; i < 40; i++) {
      const answer = await rawPost(a.mcpUrl, echoCall({ text: `r${i}` }), headers);
      expect(answer.text).toContain(`"text":"r${i}"`);
    }
    const calls = async (service: RunningService) => {
      const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
      const line = text.split('\n').find((row) => row.startsWith('mcp_tool_calls_total{tool="echo"'));
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    const [servedByA, servedByB] = [await calls(a), await calls(b)];
    expect(servedByA + servedByB).toBe(40);
    expect(servedByA).toBeGreaterThan(0);
    expect(servedByB).toBeGreaterThan(0);
  });
});

describe('Redis outages', () => {
  it('keeps serving on the in-memory fallback when Redis is down (fail open), and /readyz names Redis as down', async () => {
    const own = await startRedis();
    try {
      const service = await start({ REDIS_URL: own.url, RATE_LIMIT_FAIL_MODE: 'open' });
      const client = await connectMcpClient(service.mcpUrl, { token: readerKey.key });
      await own.stop();
      const result = await client.callTool({ name: 'echo', arguments: { text: 'still here' } });
      expect(result.structuredContent).toEqual({ text: 'still here', tenant: 'acme' });
      const ready = await fetch(`${service.adminUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ dependencies: { redis: { status: 'down', required: false } } });
      await own.start();
      await expect
        .poll(
          async () =>
            ((await (await fetch(`${service.adminUrl}/readyz`)).json()) as ReadyBody).dependencies.redis?.status,
          {
            timeout: 10_000,
          },
        )
        .toBe('up');
      await client.close();
    } finally {
      await own.destroy();
    }
  });

  it('turns unready and refuses calls when Redis is down and RATE_LIMIT_FAIL_MODE=closed', async () => {
    const own = await startRedis();
    try {
      const service = await start({ REDIS_URL: own.url, RATE_LIMIT_FAIL_MODE: 'closed' });
      expect((await post(service.mcpUrl, listTools, { authorization: `Bearer ${readerKey.key}` })).status).toBe(200);
      await own.stop();
      const refused = await post(service.mcpUrl, listTools, { authorization: `Bearer ${readerKey.key}` });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect((await fetch(`${service.adminUrl}/readyz`)).status).toBe(503);
    } finally {
      await own.destroy();
    }
  });
});

describe('configuration', () => {
  it('refuses AUTH_MODE=none on a non-loopback bind, listing every problem at once', async () => {
    await expect(
      start({ HOST: '0.0.0.0', AUTH_MODE: 'none', PORT: 'abc', RATE_LIMIT_FAIL_MODE: 'sometimes' }),
    ).rejects.toThrow(/PORT[\s\S]*RATE_LIMIT_FAIL_MODE[\s\S]*AUTH_MODE=none/);
  });

  it('refuses to start when PUBLIC_URL cannot be the token audience', async () => {
    await expect(start({ PUBLIC_URL: 'http://db.example.com/api' })).rejects.toThrow(/https[\s\S]*\/mcp/);
  });
});

describe('graceful shutdown', () => {
  it('turns unready at once, drains an in-flight call, then stops accepting', async () => {
    const service = await start({ SHUTDOWN_DELAY_MS: '300', TOOL_TIMEOUT_MS: '5000' });
    const client = await connectMcpClient(service.mcpUrl, { token: readerKey.key });
    const inflight = client.callTool({ name: 'slow', arguments: { ms: 800 } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = service.shutdown();
    expect((await fetch(`${service.adminUrl}/readyz`)).status).toBe(503);
    expect((await inflight).structuredContent).toEqual({ waited: 800 });
    await stopped;
    await expect(fetch(service.mcpUrl, { method: 'POST' })).rejects.toThrow();
  });
});
