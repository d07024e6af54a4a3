/**
 * What an MCP client puts on the wire for one tool call over Streamable HTTP. Both MCP servers
 * under test are stateless, so every POST is a standalone `tools/call`: no `initialize`, no
 * Mcp-Session-Id.
 */

/** 2026-07-28 and later carry the method and client identity on every request; earlier revisions do not. */
const isModern = (protocol: string) => protocol >= '2026-07-28';

/** The headers an MCP client sends with a `tools/call`; 2026-07-28 mirrors the method and tool name in them. */
export function mcpHeaders(tool: string, protocol: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': protocol,
    ...(isModern(protocol) ? { 'mcp-method': 'tools/call', 'mcp-name': tool } : {}),
  };
}

/** A 2026-07-28 request carries the client's identity in `_meta` instead of an earlier `initialize`. */
export function toolsCallBody(tool: string, args: Record<string, unknown>, protocol: string): string {
  const meta = isModern(protocol)
    ? {
        _meta: {
          'io.modelcontextprotocol/protocolVersion': protocol,
          'io.modelcontextprotocol/clientInfo': { name: 'flotilla-bench', version: '1.0.0' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      }
    : {};
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: tool, arguments: args, ...meta },
  });
}

export interface ToolResult {
  content?: { type: string; text?: string }[];
  structuredContent?: unknown;
  isError?: boolean;
}

/**
 * The JSON-RPC result of a response body, which a server may send as plain JSON or as a
 * one-event SSE stream; throws on a JSON-RPC error or a tool error.
 */
export function toolResultOf(contentType: string, body: string): ToolResult {
  const messages = contentType.includes('text/event-stream')
    ? body
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => JSON.parse(line.slice('data:'.length)) as unknown)
    : [JSON.parse(body) as unknown];
  const response = messages.find((message) => typeof message === 'object' && message !== null && 'id' in message) as
    | { result?: ToolResult; error?: { message?: string } }
    | undefined;
  if (!response) throw new Error(`no JSON-RPC response in: ${body.slice(0, 500)}`);
  if (response.error) throw new Error(`JSON-RPC error: ${JSON.stringify(response.error)}`);
  const result = response.result;
  if (!result) throw new Error(`JSON-RPC response without a result: ${body.slice(0, 500)}`);
  if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content ?? result).slice(0, 500)}`);
  return result;
}

/**
 * The per-response check during load: a substring test, not a parse, so the load generator spends
 * its CPU on sending requests. Rows of this dataset never contain either marker.
 */
export function looksLikeToolSuccess(body: string): boolean {
  return body.includes('"result":') && !body.includes('"isError":true');
}
