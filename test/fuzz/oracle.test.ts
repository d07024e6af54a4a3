import { describe, expect, it } from 'vitest';
import { problemsOf, type Secrets } from './oracle.js';
import type { RawAnswer } from './raw-http.js';

// The fuzzer is only as good as its oracle: each property must catch the failure it names, and pass what is fine.

const secrets: Secrets = { literals: ['flt_secret-key', '/tmp/flotilla-clients-x/workspace'], allowedPorts: [8080] };
const json = (status: number, body: unknown, headers: Record<string, string> = {}): RawAnswer => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
  ms: 5,
});
const check = (answer: RawAnswer, sent = 10) => problemsOf('POST', answer, secrets, 10_000, sent, 1_048_576);
const toolError = (payload: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id: 1,
  result: {
    _meta: { 'io.github.flotilla/error': payload },
    content: [{ type: 'text', text: 'NOT_FOUND: no such file' }],
    isError: true,
    ...extra,
  },
});
const payload = { code: 'NOT_FOUND', message: 'No such file.', retryable: false, errorId: 'abc' };

describe('the fuzz oracle', () => {
  it('passes well-formed answers: a result, a tool error, a JSON-RPC error, an OAuth refusal, a documented 503', () => {
    expect(check(json(200, { jsonrpc: '2.0', id: 1, result: { tools: [] } }))).toEqual([]);
    expect(check(json(200, toolError(payload)))).toEqual([]);
    expect(check(json(400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }))).toEqual([]);
    expect(check(json(401, { error: 'unauthorized', error_description: 'no credentials' }))).toEqual([]);
    expect(
      check(json(503, { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'busy' } }, { 'retry-after': '1' })),
    ).toEqual([]);
  });

  it('fails a 5xx other than a documented 503, a hang and a late answer', () => {
    expect(
      check(json(500, { jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error.' } })),
    ).toHaveLength(1);
    expect(check(json(503, { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'x' } }))).toHaveLength(1);
    expect(check({ status: 0, headers: {}, body: '', ms: 10_000, error: 'timeout' })).toEqual(['no answer: timeout']);
    expect(check({ ...json(200, { jsonrpc: '2.0', id: 1, result: {} }), ms: 12_000 })).toHaveLength(1);
  });

  it('fails a tool error with structuredContent, without the payload, or with an unknown code', () => {
    expect(check(json(200, toolError(payload, { structuredContent: { error: 1 } })))).toEqual([
      'a tool error with structuredContent',
    ]);
    expect(check(json(200, { jsonrpc: '2.0', id: 1, result: { content: [], isError: true } }))[0]).toMatch(
      /without _meta/,
    );
    expect(check(json(200, toolError({ ...payload, code: 'OOPS' })))).toEqual(['unknown error code "OOPS"']);
    expect(check(json(200, toolError({ ...payload, retryable: 'no' })))).toEqual(['retryable is not a boolean']);
  });

  it('fails malformed JSON-RPC: a wrong version, an odd id, both result and error', () => {
    expect(check(json(200, { jsonrpc: '1.0', id: 1, result: {} }))).toHaveLength(1);
    expect(check(json(200, { jsonrpc: '2.0', id: {}, result: {} }))).toHaveLength(1);
    expect(check(json(200, { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } }))).toHaveLength(1);
  });

  it('finds leaks: a stack trace, a connection string, a secret, a server path, an internal address', () => {
    const leaky = (message: string) => check(json(400, { jsonrpc: '2.0', id: 1, error: { code: -32603, message } }));
    expect(leaky('boom\n    at Object.<anonymous> (/app/dist/main.js:10:5)')).not.toEqual([]);
    expect(leaky('connect to postgres://user:pw@db.internal:5432/shop failed')).not.toEqual([]);
    expect(leaky('bad key flt_secret-key')).not.toEqual([]);
    expect(leaky('ENOENT /tmp/flotilla-clients-x/workspace/acme/x')).not.toEqual([]);
    expect(leaky('redis at 127.0.0.1:6379 is down')).not.toEqual([]);
    // A resource URI is not a connection string, and the public port may be named.
    expect(leaky('no table postgres://table/public/nope; see http://127.0.0.1:8080/mcp')).toEqual([]);
  });

  it('reads every event of an SSE answer', () => {
    const event = (message: unknown) => `event: message\ndata: ${JSON.stringify(message)}\n\n`;
    const answer: RawAnswer = {
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: event({ jsonrpc: '2.0', id: 1, result: {} }) + event(toolError({ ...payload, code: 'NOPE' })),
      ms: 3,
    };
    expect(check(answer)).toEqual(['unknown error code "NOPE"']);
  });
});
