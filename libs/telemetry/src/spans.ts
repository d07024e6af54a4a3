import { type Context, context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

const tracer = trace.getTracer('flotilla');

export interface McpSpanAttributes {
  method: string;
  toolName?: string;
  protocolVersion?: string;
  requestId?: string | number;
}

/**
 * Runs `work` inside one server span named `{mcp.method.name} {gen_ai.tool.name}` (OpenTelemetry MCP
 * semantic conventions). A `traceparent` carried in the request's `params._meta` becomes the parent,
 * so a client that propagates context in-band is traced even over stdio.
 */
export async function withMcpSpan<T>(
  attributes: McpSpanAttributes,
  meta: Record<string, unknown> | undefined,
  work: () => Promise<T>,
  outcomeOf: (value: T) => string | undefined,
): Promise<T> {
  const parent = parentContext(meta);
  const name = attributes.toolName ? `${attributes.method} ${attributes.toolName}` : attributes.method;
  return tracer.startActiveSpan(name, { kind: SpanKind.SERVER }, parent, async (span) => {
    span.setAttribute('mcp.method.name', attributes.method);
    if (attributes.toolName) {
      span.setAttribute('gen_ai.tool.name', attributes.toolName);
      span.setAttribute('gen_ai.operation.name', 'execute_tool');
    }
    if (attributes.protocolVersion) span.setAttribute('mcp.protocol.version', attributes.protocolVersion);
    if (attributes.requestId !== undefined) span.setAttribute('jsonrpc.request.id', String(attributes.requestId));
    try {
      const value = await work();
      const errorType = outcomeOf(value);
      if (errorType) {
        span.setAttribute('error.type', errorType);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      return value;
    } catch (error) {
      span.setAttribute('error.type', error instanceof Error ? error.name : 'unknown');
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

function parentContext(meta: Record<string, unknown> | undefined): Context {
  const traceparent = meta?.traceparent;
  if (typeof traceparent !== 'string') return context.active();
  const carrier: Record<string, string> = { traceparent };
  if (typeof meta?.tracestate === 'string') carrier.tracestate = meta.tracestate;
  return propagation.extract(context.active(), carrier);
}
