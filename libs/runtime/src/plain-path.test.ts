import { mintApiKey, startTestIssuer, type TestIssuer, writeApiKeysFile } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonBody, plainMcpBodyLength } from './http-app.js';
import { type RunningService, startService } from './service.js';
import { fixtureEnvironment, fixtureService } from './testing/fixture-service.js';

const reader = mintApiKey({ subject: 'reader', tenant: 'acme', scopes: ['test:read'] });
let issuer: TestIssuer;
let service: RunningService;

beforeAll(async () => {
  issuer = await startTestIssuer();
  const keysFile = await writeApiKeysFile([reader.entry]);
  service = await startService({
    definition: fixtureService,
    environment: {},
    transport: 'http',
    env: {
      ...fixtureEnvironment({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, keysFile }),
      ALLOWED_ORIGINS: 'https://app.example.com',
    },
    setup: async () => ({
      deps: { notes: [], aborted: { count: 0 } },
      dependencies: [],
      close: async () => {},
    }),
  });
});

afterAll(async () => {
  await service?.shutdown();
  await issuer?.close();
});

const limits = { ALLOWED_HOSTS: ['127.0.0.1', 'localhost'], ALLOWED_ORIGINS: [], MAX_BODY_BYTES: 1000 };
const plainRequest = {
  method: 'POST',
  url: '/mcp',
  headers: { host: '127.0.0.1:8080', 'content-type': 'application/json', 'content-length': '120' },
};

describe('which requests skip express', () => {
  it('takes a POST of plain JSON to exactly /mcp, within the body limit, from an allowed Host', () => {
    expect(plainMcpBodyLength(plainRequest, limits)).toBe(120);
  });

  it.each([
    ['another method', { method: 'GET' }],
    ['another path', { url: '/mcp/' }],
    ['a query string', { url: '/mcp?x=1' }],
    ['a charset', { headers: { ...plainRequest.headers, 'content-type': 'application/json; charset=utf-8' } }],
    ['another media type', { headers: { ...plainRequest.headers, 'content-type': 'text/plain' } }],
    ['a Content-Encoding', { headers: { ...plainRequest.headers, 'content-encoding': 'gzip' } }],
    ['chunked transfer', { headers: { ...plainRequest.headers, 'transfer-encoding': 'chunked' } }],
    ['no Content-Length', { headers: { host: '127.0.0.1', 'content-type': 'application/json' } }],
    ['an empty body', { headers: { ...plainRequest.headers, 'content-length': '0' } }],
    ['a body over the limit', { headers: { ...plainRequest.headers, 'content-length': '1001' } }],
    ['a Host not allowed', { headers: { ...plainRequest.headers, host: 'evil.example.com' } }],
    ['an Origin not allowed', { headers: { ...plainRequest.headers, origin: 'https://evil.example.com' } }],
  ])('leaves %s to express', (_what, change) => {
    expect(plainMcpBodyLength({ ...plainRequest, ...change }, limits)).toBeUndefined();
  });

  it('reads bodies as body-parser does: a BOM dropped, empty as {}, only objects and arrays', () => {
    expect(parseJsonBody('\ufeff{"a":1}')).toEqual({ value: { a: 1 } });
    expect(parseJsonBody(' \n\t\r[1]')).toEqual({ value: [1] });
    expect(parseJsonBody('')).toEqual({ value: {} });
    expect(parseJsonBody('"text"')).toBeUndefined();
    expect(parseJsonBody('42')).toBeUndefined();
    expect(parseJsonBody('\u00a0{}')).toBeUndefined();
    expect(parseJsonBody('{"a":')).toBeUndefined();
  });
});

describe('the plain path and express answer alike', () => {
  const call = {
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name: 'echo', arguments: { text: 'hé "there"' } },
  };
  const auth = { authorization: `Bearer ${reader.key}` };
  const legacy = { 'mcp-protocol-version': '2025-11-25', accept: 'application/json, text/event-stream' };
  let nest = '1';
  for (let depth = 0; depth < 200; depth += 1) nest = `[${nest}]`;
  const cases: [string, string | Buffer, Record<string, string>][] = [
    ['a tools/call', JSON.stringify(call), { ...auth, ...legacy }],
    ['a tools/call with a BOM and leading whitespace', `\ufeff \n${JSON.stringify(call)}`, { ...auth, ...legacy }],
    ['tools/list', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), { ...auth, ...legacy }],
    ['a call without credentials', JSON.stringify(call), legacy],
    [
      'a call of a tool beyond the scopes',
      JSON.stringify({ ...call, params: { name: 'add_note', arguments: {} } }),
      { ...auth, ...legacy },
    ],
    ['JSON cut short', '{"jsonrpc":"2.0","id":', { ...auth, ...legacy }],
    ['a string, not an object', '"tools/list"', { ...auth, ...legacy }],
    [
      'nesting past 128 levels',
      `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":${nest}}}`,
      { ...auth, ...legacy },
    ],
    ['bytes that are not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), { ...auth, ...legacy }],
    ['an Origin not allowed', JSON.stringify(call), { ...auth, ...legacy, origin: 'https://evil.example.com' }],
  ];
  const withoutIds = (text: string) =>
    text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID');

  it.each(cases)('%s', async (what, body, headers) => {
    // Every case but the foreign Origin is one the plain path takes, as the server routes it.
    const sent = { host: new URL(service.mcpUrl).host, 'content-type': 'application/json', ...headers };
    const routed = plainMcpBodyLength(
      { method: 'POST', url: '/mcp', headers: { ...sent, 'content-length': String(Buffer.byteLength(body)) } },
      service.config,
    );
    if (what === 'an Origin not allowed') expect(routed).toBeUndefined();
    else expect(routed).toBe(Buffer.byteLength(body));
    const send = (url: string) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    // The same request with a query string: express's route still matches it, the plain path never does.
    const [plain, viaExpress] = [await send(service.mcpUrl), await send(`${service.mcpUrl}?via=express`)];
    expect(plain.status).toBe(viaExpress.status);
    for (const header of ['content-type', 'www-authenticate', 'retry-after', 'cache-control']) {
      expect(plain.headers.get(header), header).toBe(viaExpress.headers.get(header));
    }
    expect(withoutIds(await plain.text())).toBe(withoutIds(await viaExpress.text()));
  });
});
