import type { IncomingHttpHeaders } from 'node:http';
import { classifyInboundRequest, SERVER_INFO_META_KEY } from '@modelcontextprotocol/server';
import { type CallToolOutcome, structuredJsonOf } from './pipeline.js';

/**
 * The one revision the lane answers. The SDK does not export its list of modern revisions; a
 * request in any other (a later one included) goes to the SDK's handler.
 */
const LANE_REVISION = '2026-07-28';

/** The identity a 2026-07-28 result carries in `_meta` (the SDK's `serverInfo`). */
export interface ServerIdentity {
  name: string;
  title: string;
  version: string;
}

/**
 * The 2025-era revisions the lane answers: a stateless `tools/call` of these arrives with no
 * envelope, and the SDK answers it as a one-event SSE stream, which the lane reproduces.
 */
export const LEGACY_LANE_REVISIONS: ReadonlySet<string> = new Set(['2025-11-25', '2025-06-18']);

/** A `tools/call` the lane has accepted: what the pipeline needs, and the id to answer under. */
export interface LaneCall {
  id: string | number;
  /** `modern`: 2026-07-28, answered as JSON; `legacy`: a 2025-era revision, answered as the SDK's SSE event. */
  era: 'modern' | 'legacy';
  /** The revision the request named; carried so the span records it like the SDK path does. */
  protocolVersion: string;
  name: string;
  args: Record<string, unknown> | undefined;
  meta: Record<string, unknown> | undefined;
}

/**
 * The hot path of a stateless server: a `tools/call` of a tool this server offers, answered by the
 * pipeline directly instead of through a per-request SDK server instance (a web Request and
 * Response, a transport connected and closed, an McpServer with its resources and prompts
 * registered, an error object built at teardown: 0.3 ms of CPU per 2026-era call and 1.5 ms per
 * 2025-era one, most of a fast tool's cost).
 *
 * A 2026-07-28 call is taken when the SDK's own classifier (`classifyInboundRequest`) accepts it as
 * a modern request, with the standard headers present and equal to the body, an Accept header that
 * names JSON, and a tool the pipeline knows. A 2025-era call is taken only in its plain form (see
 * `acceptLegacyToolCall`). Anything else, every other method, unknown tools and every malformed or
 * mismatched request, goes to the SDK's handler, which owns those answers. The answer has the shape
 * the SDK gives it; tests compare the two byte for byte for both eras.
 */
export function acceptToolCall(
  headers: IncomingHttpHeaders,
  body: unknown,
  pipeline: { offers(name: string): boolean },
): LaneCall | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { method, params, id } = body as { method?: unknown; params?: unknown; id?: unknown };
  if (method !== 'tools/call' || (typeof id !== 'string' && typeof id !== 'number')) return undefined;
  const version = headers['mcp-protocol-version'];
  if (typeof version === 'string' && LEGACY_LANE_REVISIONS.has(version)) {
    return acceptLegacyToolCall(headers, body as Record<string, unknown>, version, pipeline);
  }
  const { name, arguments: args, _meta: meta } = (params ?? {}) as Record<string, unknown>;
  if (
    typeof name !== 'string' ||
    headers['mcp-method'] !== 'tools/call' ||
    headers['mcp-name'] !== name ||
    version !== LANE_REVISION ||
    !acceptsJson(headers.accept) ||
    !pipeline.offers(name)
  ) {
    return undefined;
  }
  const route = classifyInboundRequest({
    httpMethod: 'POST',
    protocolVersionHeader: version,
    mcpMethodHeader: 'tools/call',
    mcpNameHeader: name,
    body,
  });
  if (route.kind !== 'modern' || route.messageKind !== 'request' || route.classification.revision !== version) {
    return undefined;
  }
  return {
    id,
    era: 'modern',
    protocolVersion: version,
    name,
    args: args as Record<string, unknown> | undefined,
    meta: meta as Record<string, unknown> | undefined,
  };
}

/**
 * A 2025-era stateless `tools/call`, taken only in the plain form official clients send, which the
 * SDK's handler would pass to the pipeline unchanged: exactly `application/json`, an Accept header
 * that names both JSON and SSE (the SDK refuses others with 406), no session id and no 2026 headers,
 * a body of the JSON-RPC request members only with an integer or string id, and params of only a
 * name, an arguments object and a `_meta` object whose progress token, if any, is well-formed.
 * Anything else goes to the SDK's handler, which owns those answers.
 */
function acceptLegacyToolCall(
  headers: IncomingHttpHeaders,
  body: Record<string, unknown>,
  version: string,
  pipeline: { offers(name: string): boolean },
): LaneCall | undefined {
  if (
    headers['content-type'] !== 'application/json' ||
    !acceptsJson(headers.accept) ||
    headers.accept?.includes('text/event-stream') !== true ||
    headers['mcp-session-id'] !== undefined ||
    headers['mcp-method'] !== undefined ||
    headers['mcp-name'] !== undefined
  ) {
    return undefined;
  }
  const call = plainLegacyToolCall(body, version, pipeline);
  if (!call) return undefined;
  const route = classifyInboundRequest({ httpMethod: 'POST', protocolVersionHeader: version, body });
  return route.kind === 'legacy' ? call : undefined;
}

/**
 * The body of a 2025-era `tools/call` in the plain form official clients send, which the SDK would
 * pass to the pipeline unchanged: the JSON-RPC request members only, an integer or string id, and
 * params of only a name the pipeline offers, an arguments object and a `_meta` object whose progress
 * token, if any, is well-formed. Shared by the HTTP lane and the stdio lane (stdio-lane.ts).
 */
export function plainLegacyToolCall(
  body: Record<string, unknown>,
  version: string,
  pipeline: { offers(name: string): boolean },
): LaneCall | undefined {
  const { jsonrpc, id, params } = body;
  if (
    body.method !== 'tools/call' ||
    (typeof id !== 'string' && !Number.isSafeInteger(id)) ||
    jsonrpc !== '2.0' ||
    !hasOnlyKeys(body, REQUEST_KEYS) ||
    !isPlainObject(params) ||
    !hasOnlyKeys(params, PARAMS_KEYS)
  ) {
    return undefined;
  }
  const { name, arguments: args, _meta: meta } = params;
  if (typeof name !== 'string' || !pipeline.offers(name)) return undefined;
  if (args !== undefined && !isPlainObject(args)) return undefined;
  if (meta !== undefined && !(isPlainObject(meta) && isProgressToken(meta.progressToken))) return undefined;
  return { id: id as string | number, era: 'legacy', protocolVersion: version, name, args, meta };
}

const REQUEST_KEYS: ReadonlySet<string> = new Set(['jsonrpc', 'id', 'method', 'params']);
const PARAMS_KEYS: ReadonlySet<string> = new Set(['name', 'arguments', '_meta']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasOnlyKeys(value: Record<string, unknown>, allowed: ReadonlySet<string>): boolean {
  for (const key in value) if (!allowed.has(key)) return false;
  return true;
}

function isProgressToken(token: unknown): boolean {
  return token === undefined || typeof token === 'string' || Number.isSafeInteger(token);
}

/** What the lane sends: the HTTP content type and the body. */
export interface LaneAnswer {
  contentType: string;
  /** Headers the SDK sends with that body, sent the same. */
  headers: Readonly<Record<string, string>>;
  body: string;
}

/**
 * The answer for a call the lane accepted, in the shape the SDK gives it: a 2026-07-28 result as
 * JSON with `resultType` and `serverInfo`; a 2025-era result unchanged, as one SSE `message` event.
 */
export function toolCallAnswer(call: LaneCall, outcome: CallToolOutcome, server: ServerIdentity): LaneAnswer {
  if (call.era === 'legacy') {
    return {
      contentType: 'text/event-stream',
      headers: SSE_HEADERS,
      body: `event: message\ndata: ${legacyResponseJson(call.id, outcome)}\n\n`,
    };
  }
  const modern = { ...outcome, resultType: 'complete', _meta: { ...outcome._meta, [SERVER_INFO_META_KEY]: server } };
  const structured = structuredJsonOf(outcome);
  // The same bytes as JSON.stringify(modern): its keys in that order, the structured copy's text reused.
  const result =
    structured === undefined
      ? JSON.stringify(modern)
      : `{"content":${JSON.stringify(outcome.content)},"structuredContent":${structured},"resultType":"complete",` +
        `"_meta":${JSON.stringify(modern._meta)}}`;
  return {
    contentType: 'application/json',
    headers: {},
    body: `{"result":${result},"jsonrpc":"2.0","id":${JSON.stringify(call.id)}}`,
  };
}

/** A 2025-era JSON-RPC response to a tools/call, as the SDK serialises it (its members in that order). */
export function legacyResponseJson(id: string | number, outcome: CallToolOutcome): string {
  return `{"result":${resultJson(outcome)},"jsonrpc":"2.0","id":${JSON.stringify(id)}}`;
}

/**
 * A result as JSON, serialised once: a successful one's structured copy is the text the pipeline
 * already made for its first content block (the answer carries both, as the specification recommends).
 */
function resultJson(outcome: CallToolOutcome): string {
  const structured = structuredJsonOf(outcome);
  if (structured === undefined) return JSON.stringify(outcome);
  return `{"content":${JSON.stringify(outcome.content)},"structuredContent":${structured}}`;
}

const SSE_HEADERS = { 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' } as const;

function acceptsJson(accept: string | undefined): boolean {
  return accept?.includes('application/json') === true;
}
