import fc from 'fast-check';
import type { RawRequest } from './raw-http.js';
import {
  anyJson,
  type JsonSchema,
  nearValidOf,
  oddChar,
  type PropertyHints,
  textUnit,
  validOf,
} from './schema-arbitraries.js';

// The requests the fuzzer sends to one server's POST /mcp, by family. Each case is one HTTP exchange; every family
// starts from what a real client sends and breaks one or a few things about it.

export interface FuzzTarget {
  /** The MCP port; the allowed Host is 127.0.0.1:<port>. */
  port: number;
  apiKey: string;
  maxBodyBytes: number;
  tools: readonly { name: string; inputSchema: JsonSchema }[];
  /** Domain values (paths, tables, SQL, channels) for a tool's properties; the files server's writes stay in a scratch folder. */
  hints: (tool: string) => PropertyHints;
}

export interface FuzzCase {
  family: string;
  request: RawRequest;
}

const MODERN = '2026-07-28';
const ERAS = ['2025-06-18', '2025-11-25', MODERN] as const;
type Era = (typeof ERAS)[number];

const METHODS = [
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'server/discover',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'sampling/createMessage',
  'tasks/get',
];

const envelope = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'fuzz', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

function headersFor(target: FuzzTarget, era: Era, method?: string, name?: string): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${target.apiKey}`,
    'mcp-protocol-version': era,
  };
  if (era === MODERN && method) {
    headers['mcp-method'] = method;
    if (name !== undefined) headers['mcp-name'] = name;
  }
  return headers;
}

/** A well-formed request of `method` under `era`, as a client of that era sends it. */
function message(era: Era, id: unknown, method: string, params: Record<string, unknown> = {}): Record<string, unknown> {
  const withEnvelope = era === MODERN ? { ...params, _meta: { ...envelope, ...(params._meta as object) } } : params;
  if (method === 'initialize' && era !== MODERN) {
    return {
      jsonrpc: '2.0',
      id,
      method,
      params: { protocolVersion: era, capabilities: {}, clientInfo: { name: 'fuzz', version: '1.0.0' }, ...params },
    };
  }
  return { jsonrpc: '2.0', id, method, params: withEnvelope };
}

const post = (headers: Record<string, string | undefined>, body: string | Uint8Array): RawRequest => ({
  method: 'POST',
  path: '/mcp',
  headers,
  body,
});

const era = fc.constantFrom<Era>(...ERAS);
const oddString = fc.string({ unit: textUnit, maxLength: 40 });
const requestId = fc.oneof(fc.integer(), fc.string({ unit: textUnit, maxLength: 20 }));
/** Ids of every JSON type, and numbers that do not survive a round trip through a double. */
const oddId = fc.oneof(
  requestId,
  fc.constantFrom<unknown>(null, true, false, 1.5, -0, 1e308, 2 ** 53 + 1, [], {}, [1], { id: 1 }, ''),
  oddString,
);

/** A tool call: valid arguments from the tool's own inputSchema, or near-valid ones; any era, any path. */
export function toolCall(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const perTool = target.tools.map((tool) =>
    fc.tuple(
      fc.constant(tool.name),
      fc.oneof(
        { weight: 3, arbitrary: validOf(tool.inputSchema, target.hints(tool.name)) },
        { weight: 3, arbitrary: nearValidOf(tool.inputSchema, target.hints(tool.name)) },
      ),
    ),
  );
  const unknownTool = fc.tuple(fc.string({ unit: textUnit, minLength: 1, maxLength: 30 }), anyJson);
  return fc
    .tuple(
      fc.oneof({ weight: 12, arbitrary: fc.oneof(...perTool) }, { weight: 1, arbitrary: unknownTool }),
      era,
      requestId,
      // How a 2026-07-28 call names its tool: plainly (the fast lane), Base64 (the SDK's handler), or wrongly.
      fc.constantFrom('plain', 'plain', 'plain', 'base64', 'other', 'absent'),
    )
    .map(([[name, args], callEra, id, naming]) => {
      const mcpName =
        naming === 'plain'
          ? name
          : naming === 'base64'
            ? `=?base64?${Buffer.from(name).toString('base64')}?=`
            : naming === 'other'
              ? `${name}x`
              : undefined;
      // A header value must be Latin-1 without controls; an odd tool name is sent Base64-encoded instead.
      const safeName =
        mcpName !== undefined && /^[\x20-\x7e]*$/.test(mcpName)
          ? mcpName
          : `=?base64?${Buffer.from(name).toString('base64')}?=`;
      const headers = headersFor(target, callEra, 'tools/call', mcpName === undefined ? undefined : safeName);
      return {
        family: `tools/call ${callEra} ${naming}`,
        request: post(headers, JSON.stringify(message(callEra, id, 'tools/call', { name, arguments: args }))),
      };
    });
}

/** JSON-RPC of the wrong shape: wrong or missing `jsonrpc`, ids of odd types, unknown methods, params of any type. */
export function wrongShape(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const shape = fc.record(
    {
      jsonrpc: fc.constantFrom<unknown>('2.0', '2.0', '1.0', '2', 2, null, ''),
      id: oddId,
      method: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...METHODS) },
        { weight: 1, arbitrary: oddString },
        { weight: 1, arbitrary: fc.constantFrom<unknown>(1, null, [], {}, true) },
      ),
      params: fc.oneof(
        anyJson,
        fc.record({ name: fc.oneof(oddString, anyJson), arguments: anyJson }, { requiredKeys: [] }),
        fc.record({ uri: fc.oneof(oddString, fc.constantFrom('postgres://table/public/orders', 'file:///README.md')) }),
        fc.record({ _meta: fc.oneof(anyJson, fc.constant(envelope)) }),
      ),
      result: anyJson,
      error: anyJson,
    },
    { requiredKeys: [] },
  );
  return fc.tuple(shape, era, fc.boolean()).map(([body, bodyEra, withHeaders]) => {
    const method = typeof body.method === 'string' && /^[\x20-\x7e]*$/.test(body.method) ? body.method : undefined;
    return {
      family: `json-rpc shape ${bodyEra}`,
      request: post(headersFor(target, bodyEra, withHeaders ? method : undefined), JSON.stringify(body)),
    };
  });
}

/** Well-formed requests of every method: the baseline the other families break. */
export function wellFormed(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  return fc.tuple(fc.constantFrom(...METHODS), era, requestId, anyJson).map(([method, bodyEra, id, extra]) => {
    const params: Record<string, unknown> =
      method === 'resources/read'
        ? { uri: typeof extra === 'string' ? extra : 'file:///README.md' }
        : method === 'prompts/get'
          ? { name: 'explore_schema', arguments: {} }
          : method === 'logging/setLevel'
            ? { level: 'debug' }
            : {};
    return {
      family: `well-formed ${method}`,
      request: post(headersFor(target, bodyEra, method), JSON.stringify(message(bodyEra, id, method, params))),
    };
  });
}

/** Bytes that are not JSON, or not all of it, or JSON of the wrong type. */
export function rawBody(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const valid = JSON.stringify(message('2025-11-25', 1, 'tools/list'));
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 512 }),
    fc.string({ unit: 'binary', maxLength: 256 }),
    fc.nat({ max: valid.length - 1 }).map((cut) => valid.slice(0, cut)),
    anyJson.map((value) => JSON.stringify(value) ?? 'null'),
    fc.constantFrom(
      '',
      ' ',
      `\ufeff${valid}`,
      `${valid}${valid}`,
      `${valid},`,
      '{"jsonrpc":"2.0",}',
      'NaN',
      'undefined',
      "{'a':1}",
    ),
    // Invalid UTF-8 inside an otherwise valid message: a lone surrogate's bytes, an overlong encoding, a bare continuation.
    fc
      .constantFrom([0xed, 0xa0, 0x80], [0xc0, 0xaf], [0x80], [0xff, 0xfe])
      .map((bytes) =>
        Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":"'), Buffer.from(bytes), Buffer.from('","method":"ping"}')]),
      ),
  );
  return fc.tuple(body, era).map(([bytes, bodyEra]) => ({
    family: 'raw body',
    request: post(headersFor(target, bodyEra), bytes),
  }));
}

/** JSON-RPC batches: arrays of requests, notifications and junk. */
export function batch(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const item = fc.oneof(
    fc.tuple(fc.constantFrom(...METHODS), requestId).map(([method, id]) => message('2025-11-25', id, method)),
    anyJson,
  );
  return fc.tuple(fc.array(item, { maxLength: 20 }), era).map(([items, bodyEra]) => ({
    family: 'batch',
    request: post(headersFor(target, bodyEra, 'tools/list'), JSON.stringify(items)),
  }));
}

/** Nesting up to 20,000 levels deep, within MAX_BODY_BYTES, where the body, the id, params or a tool argument go. */
export function deepNesting(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const tool = target.tools[0]?.name ?? 'x';
  return fc
    .tuple(
      fc.integer({ min: 100, max: 20_000 }),
      fc.constantFrom('[', '{"a":'),
      fc.constantFrom('body', 'id', 'params', 'argument', 'meta', 'unbalanced'),
      era,
    )
    .map(([depth, open, where, bodyEra]) => {
      const close = open === '[' ? ']' : '}';
      const nested = `${open.repeat(depth)}${open === '[' ? '1' : '1'}${close.repeat(depth)}`;
      const prefix = '{"jsonrpc":"2.0",';
      const bodies: Record<string, string> = {
        body: nested,
        id: `${prefix}"id":${nested},"method":"ping"}`,
        params: `${prefix}"id":1,"method":"tools/list","params":{"cursor":${nested}}}`,
        argument: `${prefix}"id":1,"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":{"x":${nested}}}}`,
        meta: `${prefix}"id":1,"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":{},"_meta":{"x":${nested}}}}`,
        unbalanced: `${prefix}"id":1,"method":"ping","params":${open.repeat(depth)}`,
      };
      return {
        family: `deep nesting (${where})`,
        request: post(headersFor(target, bodyEra, 'tools/call', tool), bodies[where] as string),
      };
    });
}

/** Huge strings (a few over MAX_BODY_BYTES, for the 413) and numbers at and beyond a double's reach. */
export function huge(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const bigNumberText = fc.oneof(
    fc.constantFrom('1e308', '1e309', '-1e309', '-0', '9007199254740993', '1e-400', '0.0000000000000000000001'),
    fc.integer({ min: 20, max: 20_000 }).map((digits) => '9'.repeat(digits)),
  );
  const tool = target.tools[0]?.name ?? 'x';
  const size = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 1_000, max: 200_000 }) },
    { weight: 2, arbitrary: fc.integer({ min: target.maxBodyBytes - 200, max: target.maxBodyBytes }) },
    { weight: 1, arbitrary: fc.integer({ min: target.maxBodyBytes + 1, max: target.maxBodyBytes + 100_000 }) },
  );
  const bigString = fc.tuple(size, fc.constantFrom('a', 'é', '😀', '\\u0000', ' ')).map(([n, unit]) => {
    const text = unit.repeat(Math.ceil(n / Buffer.byteLength(unit)));
    return {
      family: 'huge string',
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":{"x":"${text}"}}}`,
    };
  });
  const bigNumber = fc.tuple(bigNumberText, fc.constantFrom('id', 'argument', 'limit')).map(([number, where]) => ({
    family: `huge number (${where})`,
    body:
      where === 'id'
        ? `{"jsonrpc":"2.0","id":${number},"method":"ping"}`
        : `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":{"${where}":${number}}}}`,
  }));
  return fc.tuple(fc.oneof(bigString, bigNumber), era).map(([built, bodyEra]) => ({
    family: built.family,
    request: post(headersFor(target, bodyEra, 'tools/call', tool), built.body),
  }));
}

/** Odd Unicode where names and values go: method, tool name, id, argument keys and values. */
export function oddUnicode(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const odd = fc.string({ unit: oddChar, minLength: 1, maxLength: 20 });
  const tool = fc.constantFrom(...target.tools.map((t) => t.name));
  return fc
    .tuple(odd, tool, fc.constantFrom('method', 'name', 'id', 'key', 'value'), era)
    .map(([text, name, where, bodyEra]) => {
      const body =
        where === 'method'
          ? { jsonrpc: '2.0', id: 1, method: text }
          : where === 'id'
            ? message(bodyEra, text, 'tools/list')
            : message(bodyEra, 1, 'tools/call', {
                name: where === 'name' ? text : name,
                arguments:
                  where === 'key'
                    ? { [text]: 1 }
                    : Object.fromEntries(
                        Object.keys(target.tools.find((t) => t.name === name)?.inputSchema.properties ?? { x: 0 }).map(
                          (key) => [key, text],
                        ),
                      ),
              });
      return {
        family: `odd unicode (${where})`,
        request: post(headersFor(target, bodyEra, 'tools/call', name), JSON.stringify(body)),
      };
    });
}

/** Header variations on an otherwise valid request: content negotiation, protocol revision, MCP headers, Host, Origin, credentials, encoding, HTTP method. */
export function headerVariations(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const port = target.port;
  const headerText = fc.string({
    unit: fc.constantFrom(...'abcXYZ019 ;=,/*-_.:"\'\t'.split(''), '\u00e9', '\u00ff'),
    maxLength: 30,
  });
  const variation = fc.record(
    {
      'content-type': fc.oneof(
        fc.constantFrom<string | undefined>(
          undefined,
          'text/plain',
          'application/json; charset=utf-8',
          'application/json; charset=utf-16',
          'application/json; charset=latin1',
          'application/json; charset=koi8-r',
          'application/json; charset=bogus',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/json;;;',
          '',
        ),
        headerText,
      ),
      accept: fc.oneof(
        fc.constantFrom<string | undefined>(
          undefined,
          '*/*',
          'application/json',
          'text/event-stream',
          'text/html',
          '',
          'application/*',
        ),
        headerText,
      ),
      'mcp-protocol-version': fc.oneof(
        fc.constantFrom<string | undefined>(
          undefined,
          '2024-11-05',
          '2025-03-26',
          '2025-06-18',
          '2025-11-25',
          MODERN,
          '2099-01-01',
          '',
          'latest',
        ),
        headerText,
      ),
      'mcp-method': fc.oneof(
        fc.constantFrom<string | undefined>(undefined, 'tools/call', 'tools/list', 'ping', 'initialize'),
        headerText,
      ),
      'mcp-name': fc.oneof(
        fc.constantFrom<string | undefined>(undefined, ...target.tools.map((t) => t.name), '=?base64?!!!?='),
        headerText,
      ),
      host: fc.constantFrom(
        `127.0.0.1:${port}`,
        `localhost:${port}`,
        `[::1]:${port}`,
        '127.0.0.1',
        `127.0.0.1:${port + 1}`,
        'evil.example.com',
        `127.0.0.1.nip.io:${port}`,
        '',
      ),
      origin: fc.constantFrom(
        `http://127.0.0.1:${port}`,
        `http://localhost:${port}`,
        'http://evil.example.com',
        'null',
        'file://',
        `https://127.0.0.1:${port}`,
      ),
      authorization: fc.constantFrom(
        `Bearer ${target.apiKey}`,
        `bearer ${target.apiKey}`,
        `Bearer ${target.apiKey}x`,
        `Bearer ${target.apiKey.slice(0, -1)}`,
        'Bearer ',
        'Bearer',
        `Basic ${Buffer.from('a:b').toString('base64')}`,
        'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
        `Bearer ${'a'.repeat(5000)}`,
      ),
      'x-api-key': fc.constantFrom(target.apiKey, 'wrong'),
      'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown'),
    },
    { requiredKeys: [] },
  );
  const httpMethod = fc.constantFrom(
    'POST',
    'POST',
    'POST',
    'POST',
    'GET',
    'DELETE',
    'PUT',
    'PATCH',
    'OPTIONS',
    'HEAD',
  );
  return fc
    .tuple(
      fc.constantFrom(...METHODS.slice(0, 4)),
      era,
      variation,
      httpMethod,
      fc.constantFrom(...target.tools.map((t) => t.name)),
    )
    .map(([method, bodyEra, changes, verb, tool]) => {
      const params = method === 'tools/call' ? { name: tool, arguments: {} } : {};
      const headers: Record<string, string | undefined> = {
        ...headersFor(target, bodyEra, method, method === 'tools/call' ? tool : undefined),
        ...changes,
      };
      // Removing the credential is a variation too: an explicit `undefined` drops the header.
      for (const [name, value] of Object.entries(changes)) if (value === undefined) headers[name] = undefined;
      return {
        family: `headers ${verb}`,
        request: { method: verb, path: '/mcp', headers, body: JSON.stringify(message(bodyEra, 1, method, params)) },
      };
    });
}

/** Every family, weighted so that most cases reach the tools. */
export function anyCase(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    { weight: 40, arbitrary: toolCall(target) },
    { weight: 8, arbitrary: wellFormed(target) },
    { weight: 12, arbitrary: wrongShape(target) },
    { weight: 8, arbitrary: rawBody(target) },
    { weight: 14, arbitrary: headerVariations(target) },
    { weight: 5, arbitrary: batch(target) },
    { weight: 4, arbitrary: deepNesting(target) },
    { weight: 4, arbitrary: huge(target) },
    { weight: 5, arbitrary: oddUnicode(target) },
  );
}
