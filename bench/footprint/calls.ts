import { performance } from 'node:perf_hooks';
import { looksLikeToolSuccess, mcpHeaders, type ToolResult, toolResultOf, toolsCallBody } from '../database/mcp.ts';
import type { CallTool } from './servers.ts';

export interface CallFigures {
  readonly calls: number;
  readonly seconds: number;
  readonly callsPerSecond: number;
  /** Answers with a status outside 2xx. */
  readonly non2xx: number;
  /** 2xx answers that are not a successful tool result (a JSON-RPC error or isError). */
  readonly failedResults: number;
  /** Requests that got no answer at all. */
  readonly socketErrors: number;
}

export interface Endpoint {
  readonly mcpUrl: string;
  readonly apiKey: string;
  readonly protocol: string;
}

function headersFor(endpoint: Endpoint, tool: string): Record<string, string> {
  return { ...mcpHeaders(tool, endpoint.protocol), authorization: `Bearer ${endpoint.apiKey}` };
}

/** One standalone `tools/call`, checked in full: what the set-up and the sample check use. */
export function toolCaller(endpoint: Endpoint): CallTool {
  return async (tool, args): Promise<ToolResult> => {
    const response = await fetch(endpoint.mcpUrl, {
      method: 'POST',
      headers: headersFor(endpoint, tool),
      body: toolsCallBody(tool, args, endpoint.protocol),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`${tool}: HTTP ${response.status}: ${body.slice(0, 1000)}`);
    return toolResultOf(response.headers.get('content-type') ?? '', body);
  };
}

/**
 * `total` calls of one tool with the same arguments, `concurrency` in flight at once over fetch's
 * keep-alive connections, each answer checked with the cheap substring test.
 */
export async function makeCalls(
  endpoint: Endpoint,
  tool: string,
  args: Record<string, unknown>,
  total: number,
  concurrency: number,
): Promise<CallFigures> {
  const headers = headersFor(endpoint, tool);
  const body = toolsCallBody(tool, args, endpoint.protocol);
  let started = 0;
  let non2xx = 0;
  let failedResults = 0;
  let socketErrors = 0;
  const worker = async () => {
    while (started < total) {
      started += 1;
      try {
        const response = await fetch(endpoint.mcpUrl, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(10_000),
        });
        const text = await response.text();
        if (!response.ok) non2xx += 1;
        else if (!looksLikeToolSuccess(text)) failedResults += 1;
      } catch {
        socketErrors += 1;
      }
    }
  };
  const begun = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(total, 1)) }, worker));
  const seconds = (performance.now() - begun) / 1000;
  return {
    calls: total,
    seconds: Math.round(seconds * 100) / 100,
    callsPerSecond: seconds > 0 ? Math.round(total / seconds) : 0,
    non2xx,
    failedResults,
    socketErrors,
  };
}
