import type { IncomingHttpHeaders } from 'node:http';
import { classifyInboundRequest, SERVER_INFO_META_KEY } from '@modelcontextprotocol/server';
import type { CallToolOutcome } from './pipeline.js';

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

/** A `tools/call` the lane has accepted: what the pipeline needs, and the id to answer under. */
export interface LaneCall {
  id: string | number;
  /** Always LANE_REVISION; carried so the span records it like the SDK path does. */
  protocolVersion: string;
  name: string;
  args: Record<string, unknown> | undefined;
  meta: Record<string, unknown> | undefined;
}

/**
 * The hot path of a stateless server: a 2026-07-28 `tools/call` of a tool this server offers,
 * answered by the pipeline directly instead of through a per-request SDK server instance (a web
 * Request and Response, a transport connected and closed, an error object built at teardown:
 * about 0.3 ms of CPU per call, most of a fast tool's cost).
 *
 * The lane takes only what the SDK's own classifier (`classifyInboundRequest`) accepts as a
 * modern request, with the standard headers present and equal to the body, revision
 * 2026-07-28, an Accept header that names JSON, and a tool the pipeline knows. Anything else, every other
 * method, the 2025 era, unknown tools and every malformed or mismatched request, goes to the
 * SDK's handler, which owns those answers. The answer has the shape the SDK gives a modern
 * `tools/call` (`resultType` and `serverInfo`); a test compares the two byte for byte.
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
    protocolVersion: version,
    name,
    args: args as Record<string, unknown> | undefined,
    meta: meta as Record<string, unknown> | undefined,
  };
}

/** The JSON-RPC response body for a call the lane accepted. */
export function toolCallResponse(call: LaneCall, outcome: CallToolOutcome, server: ServerIdentity): string {
  return JSON.stringify({
    result: { ...outcome, resultType: 'complete', _meta: { ...outcome._meta, [SERVER_INFO_META_KEY]: server } },
    jsonrpc: '2.0',
    id: call.id,
  });
}

function acceptsJson(accept: string | undefined): boolean {
  return accept?.includes('application/json') === true;
}
