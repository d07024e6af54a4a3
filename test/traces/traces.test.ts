import { randomBytes } from 'node:crypto';
import type { ServiceProcess } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, SERVER_NAMES, type ServerName, startFleet } from '../clients/fleet.js';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND_CLIENT,
  SPAN_KIND_SERVER,
  STATUS_CODE_ERROR,
  startOtlpReceiver,
} from './otlp-receiver.js';

// SPEC §6 traces, end to end: each server runs as its built process with the standard OTEL_* variables pointing
// at an OTLP/HTTP receiver in this test, and what it exports is checked against the spec: one SERVER span per MCP
// request named `{mcp.method.name} {gen_ai.tool.name}` with the MCP semantic-convention attributes, parented by a
// W3C `traceparent` from the HTTP headers or from `params._meta`, pg and ioredis spans below it, and the same trace
// id on the call's audit line. Both answering paths are covered: the SDK's handler (2025-06-18) and the runtime's
// own 2026-07-28 tools/call lane (libs/runtime/src/tool-call-lane.ts), which must not diverge.

/** Per server: a call that succeeds and reaches PostgreSQL where the server has it, and one with a bad argument. */
const CALLS: Record<ServerName, { tool: string; args: Record<string, unknown>; invalid: Record<string, unknown> }> = {
  database: { tool: 'query', args: { sql: 'select 1 as one' }, invalid: { sql: 42 } },
  files: { tool: 'read_file', args: { path: 'README.md' }, invalid: { path: 42 } },
  notifications: { tool: 'list_notifications', args: { limit: 5 }, invalid: { limit: 0 } },
};
const USES_POSTGRES: Record<ServerName, boolean> = { database: true, files: false, notifications: true };

const LEGACY = '2025-06-18';
const MODERN = '2026-07-28';
/** The per-request envelope a 2026-07-28 request carries in `_meta`, as the official client sends it. */
const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'flotilla-traces-test', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** A caller's span: a fresh trace, so every exported span of one request is found by its trace id. */
function callerSpan() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

interface RpcResponse {
  result?: { isError?: boolean; [key: string]: unknown };
  error?: { code: number; message: string };
}

let nextId = 1;

/** One JSON-RPC POST; the answer may be JSON or a one-event SSE stream. */
async function post(
  server: ServiceProcess,
  apiKey: string,
  era: typeof LEGACY | typeof MODERN,
  body: { method: string; params: Record<string, unknown> },
  headers: Record<string, string> = {},
): Promise<{ id: number; response: RpcResponse }> {
  const id = nextId++;
  const modern =
    era === MODERN
      ? {
          'mcp-method': body.method,
          ...(typeof body.params.name === 'string' ? { 'mcp-name': body.params.name } : {}),
        }
      : {};
  const answer = await fetch(server.mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': era,
      authorization: `Bearer ${apiKey}`,
      ...modern,
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, ...body }),
  });
  const text = await answer.text();
  expect(answer.status, text).toBe(200);
  const json = answer.headers.get('content-type')?.startsWith('text/event-stream')
    ? text
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice('data:'.length).trim())
        .join('')
    : text;
  return { id, response: JSON.parse(json) as RpcResponse };
}

/** A tools/call in either era, its `_meta` carrying the envelope (2026-07-28) and any extra keys. */
function toolCall(era: typeof LEGACY | typeof MODERN, tool: string, args: unknown, meta: Record<string, unknown> = {}) {
  const _meta = { ...(era === MODERN ? ENVELOPE : {}), ...meta };
  return {
    method: 'tools/call',
    params: { name: tool, arguments: args, ...(Object.keys(_meta).length > 0 ? { _meta } : {}) },
  };
}

const isMcpSpan = (span: ReceivedSpan) => span.attributes['mcp.method.name'] !== undefined;

/** The spans above `span` in its trace, nearest first, as far as they were exported. */
function ancestorsOf(span: ReceivedSpan, spans: ReceivedSpan[]): ReceivedSpan[] {
  const byId = new Map(spans.filter((s) => s.traceId === span.traceId).map((s) => [s.spanId, s]));
  const chain: ReceivedSpan[] = [];
  for (let parent = byId.get(span.parentSpanId ?? ''); parent; parent = byId.get(parent.parentSpanId ?? '')) {
    chain.push(parent);
  }
  return chain;
}

function descendantsOf(span: ReceivedSpan, spans: ReceivedSpan[]): ReceivedSpan[] {
  return spans.filter((s) => s.traceId === span.traceId && ancestorsOf(s, spans).includes(span));
}

/** The one MCP span of a trace; fails if the server emitted two for one request. */
function mcpSpanIn(traceId: string, spans: ReceivedSpan[]): ReceivedSpan | undefined {
  const found = spans.filter((span) => span.traceId === traceId && isMcpSpan(span));
  expect(found.length, `MCP spans in trace ${traceId}: ${found.map((s) => s.name).join(', ')}`).toBeLessThanOrEqual(1);
  return found[0];
}

/** The MCP span of one JSON-RPC request (ids are unique in this file), wherever its trace ended up. */
function spanOfRequest(server: ServerName, id: number, spans: ReceivedSpan[]): ReceivedSpan | undefined {
  return spans.find(
    (span) =>
      isMcpSpan(span) && span.service === `flotilla-${server}` && span.attributes['jsonrpc.request.id'] === String(id),
  );
}

/** The audit line of one call (by the trace it ran in), parsed from the server's stderr. */
function auditLineOf(server: ServiceProcess, traceId: string): Record<string, unknown> | undefined {
  return server
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((line) => line.event === 'audit' && line.trace_id === traceId);
}

async function waitForAudit(server: ServiceProcess, traceId: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 5_000;
  while (true) {
    const line = auditLineOf(server, traceId);
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no audit line with trace_id ${traceId} on stderr`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let fleet: Fleet;
let receiver: OtlpReceiver;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  fleet = await startFleet();
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await receiver?.close();
});

for (const server of SERVER_NAMES) {
  const { tool, args, invalid } = CALLS[server];

  describe(`${server} server traces`, () => {
    let service: ServiceProcess;
    /** The span of the legacy-era call with a traceparent header: what the other paths are compared with. */
    let reference: ReceivedSpan;

    beforeAll(async () => {
      service = await fleet.spawnHttp(server, {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        // Export within a tenth of a second of a span ending, so the polls below are short.
        OTEL_BSP_SCHEDULE_DELAY: '100',
        // Only traces are this suite's subject (and the receiver accepts only /v1/traces).
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        LOG_LEVEL: 'info',
        // A per-tool budget is kept in Redis (rate-limiter-flexible over ioredis). Below 200 a minute its lease is one
        // point (leased-budget.ts), so every call below makes a Redis round trip inside its MCP span, on every server.
        TOOL_RATE_LIMITS: `${tool}=150`,
      });
    }, 30_000);

    it(`names one SERVER span per tools/call "tools/call ${tool}", with the MCP attributes, under the traceparent header`, async () => {
      const caller = callerSpan();
      const { id, response } = await post(service, fleet.apiKey, LEGACY, toolCall(LEGACY, tool, args), {
        traceparent: caller.traceparent,
      });
      expect(response.result?.isError, JSON.stringify(response)).toBeFalsy();

      // Complete once the chain from the MCP span reaches the span whose parent is the caller's.
      const span = await receiver.waitFor((spans) => {
        const mcp = mcpSpanIn(caller.traceId, spans);
        const chain = mcp ? ancestorsOf(mcp, spans) : [];
        return chain.at(-1)?.parentSpanId === caller.spanId && mcp;
      }, `the ${tool} span and its HTTP ancestors in trace ${caller.traceId}`);
      reference = span;

      expect(span.name).toBe(`tools/call ${tool}`);
      expect(span.kind).toBe(SPAN_KIND_SERVER);
      expect(span.traceId).toBe(caller.traceId);
      expect(span.attributes).toMatchObject({
        'mcp.method.name': 'tools/call',
        'gen_ai.tool.name': tool,
        'gen_ai.operation.name': 'execute_tool',
        'mcp.protocol.version': LEGACY,
        'jsonrpc.request.id': String(id),
      });
      expect(span.attributes).not.toHaveProperty('error.type');
      expect(span.statusCode).not.toBe(STATUS_CODE_ERROR);

      // Over HTTP the header parents the HTTP server span (auto-instrumentation), and the MCP span sits below it.
      const chain = ancestorsOf(span, receiver.spans());
      const http = chain.at(-1) as ReceivedSpan;
      expect(http).toMatchObject({ kind: SPAN_KIND_SERVER, scope: '@opentelemetry/instrumentation-http' });
      expect(http.attributes['url.path']).toBe('/mcp');
      expect(http.parentSpanId).toBe(caller.spanId);
    });

    it(`puts the ${USES_POSTGRES[server] ? 'pg and ' : ''}ioredis spans of that call under its MCP span`, async () => {
      const children = await receiver.waitFor((spans) => {
        const below = descendantsOf(reference, spans);
        const redis = below.some((span) => span.scope === '@opentelemetry/instrumentation-ioredis');
        const pg = below.some((span) => span.scope === '@opentelemetry/instrumentation-pg');
        return redis && (pg || !USES_POSTGRES[server]) && below;
      }, `pg/ioredis spans under ${reference.name}`);

      const redis = children.filter((span) => span.scope === '@opentelemetry/instrumentation-ioredis');
      for (const span of redis) {
        expect(span).toMatchObject({ kind: SPAN_KIND_CLIENT, traceId: reference.traceId });
        expect(span.attributes['db.system.name']).toBe('redis');
      }
      // The tool's rate-limit budget: rate-limiter-flexible's Lua script, which the instrumentation names by command.
      expect(redis.map((span) => span.name)).toContain('evalsha');

      const pg = children.filter((span) => span.scope === '@opentelemetry/instrumentation-pg');
      if (USES_POSTGRES[server]) {
        expect(pg.map((span) => span.name)).toEqual(expect.arrayContaining([expect.stringMatching(/^pg\.query/)]));
        for (const span of pg) {
          expect(span).toMatchObject({ kind: SPAN_KIND_CLIENT, traceId: reference.traceId });
          expect(span.attributes['db.system.name']).toBe('postgresql');
        }
      } else {
        expect(pg).toEqual([]);
      }
    });

    it('writes the trace and span id of that call on its audit line', async () => {
      const audit = await waitForAudit(service, reference.traceId);
      expect(audit).toMatchObject({
        event: 'audit',
        tool,
        outcome: 'success',
        trace_id: reference.traceId,
        span_id: reference.spanId,
      });
    });

    for (const era of [LEGACY, MODERN] as const) {
      const path = era === MODERN ? 'the 2026-07-28 tools/call lane' : 'the SDK handler (2025-06-18)';

      it(`takes the parent from params._meta.traceparent on ${path}, with the same span shape`, async () => {
        const caller = callerSpan();
        const { id, response } = await post(
          service,
          fleet.apiKey,
          era,
          toolCall(era, tool, args, { traceparent: caller.traceparent }),
        );
        expect(response.result?.isError, JSON.stringify(response)).toBeFalsy();
        const span = await receiver.waitFor(
          (spans) => spanOfRequest(server, id, spans),
          `the span of ${era} request ${id}`,
        );

        // No header: the HTTP span starts its own trace, and the MCP span is the caller's direct child.
        expect(span.traceId).toBe(caller.traceId);
        expect(span.parentSpanId).toBe(caller.spanId);
        expect(mcpSpanIn(caller.traceId, receiver.spans())).toBe(span);
        expect(span.name).toBe(`tools/call ${tool}`);
        expect({ name: span.name, kind: span.kind, keys: Object.keys(span.attributes).sort() }).toEqual({
          name: reference.name,
          kind: reference.kind,
          keys: Object.keys(reference.attributes).sort(),
        });
        expect(span.attributes).toMatchObject({ 'mcp.protocol.version': era, 'jsonrpc.request.id': String(id) });

        const below = await receiver.waitFor(
          (spans) =>
            descendantsOf(span, spans).some((child) => child.scope === '@opentelemetry/instrumentation-ioredis') &&
            descendantsOf(span, spans),
          `ioredis spans under the ${era} ${tool} span`,
        );
        expect(below.every((child) => child.traceId === caller.traceId)).toBe(true);
        expect(await waitForAudit(service, caller.traceId)).toMatchObject({ tool, span_id: span.spanId });
      });

      it(`records error.type on a failed call on ${path}`, async () => {
        const caller = callerSpan();
        const { id, response } = await post(
          service,
          fleet.apiKey,
          era,
          toolCall(era, tool, invalid, { traceparent: caller.traceparent }),
        );
        expect(response.result?.isError, JSON.stringify(response)).toBe(true);
        const span = await receiver.waitFor(
          (spans) => spanOfRequest(server, id, spans),
          `the span of failed ${era} request ${id}`,
        );
        expect(span.name).toBe(`tools/call ${tool}`);
        expect(span.traceId).toBe(caller.traceId);
        expect(span.parentSpanId).toBe(caller.spanId);
        expect(span.attributes['error.type']).toBe('INVALID_ARGUMENT');
        expect(span.statusCode).toBe(STATUS_CODE_ERROR);
        expect(await waitForAudit(service, caller.traceId)).toMatchObject({
          outcome: 'error',
          errorCode: 'INVALID_ARGUMENT',
          span_id: span.spanId,
        });
      });
    }

    it('names the tools/list span "tools/list", parented by params._meta', async () => {
      const caller = callerSpan();
      const { id, response } = await post(service, fleet.apiKey, LEGACY, {
        method: 'tools/list',
        params: { _meta: { traceparent: caller.traceparent } },
      });
      expect(response.result?.tools).toEqual(expect.arrayContaining([expect.objectContaining({ name: tool })]));
      const span = await receiver.waitFor(
        (spans) => spanOfRequest(server, id, spans),
        `the span of tools/list request ${id}`,
      );
      expect(span).toMatchObject({
        name: 'tools/list',
        kind: SPAN_KIND_SERVER,
        traceId: caller.traceId,
        parentSpanId: caller.spanId,
      });
      expect(span.attributes).toMatchObject({
        'mcp.method.name': 'tools/list',
        'mcp.protocol.version': LEGACY,
        'jsonrpc.request.id': String(id),
      });
      expect(span.attributes).not.toHaveProperty('gen_ai.tool.name');
    });

    it(`exported every span of the ${server} server as a valid OTLP/JSON ExportTraceServiceRequest`, () => {
      expect(receiver.rejected()).toEqual([]);
      expect(receiver.spans().some((span) => span.service === `flotilla-${server}`)).toBe(true);
    });
  });
}
