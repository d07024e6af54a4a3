import { hash } from 'node:crypto';
import { missingScopes, type Principal } from '@flotilla/auth';
import {
  CallStoppedError,
  isBrokenCircuit,
  type RateLimiter,
  RateLimitStoreUnavailableError,
  withDeadline,
} from '@flotilla/resilience';
import { type FleetMetrics, type Logger, withMcpSpan, writeAudit } from '@flotilla/telemetry';
import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server';
import type { z } from 'zod';
import {
  errorPayload,
  errorText,
  newErrorId,
  TOOL_ERROR_META_KEY,
  ToolError,
  type ToolErrorPayload,
} from './errors.js';
import { type ExposureSettings, exposureOf, visibleTo } from './exposure.js';
import { type AnyTool, describeTool, type ExtraContent, scopesOf, type ToolDescriptor } from './tool.js';

/**
 * Results built by `ToolPipeline.run`, exactly `{ content, structuredContent }` with the first content
 * block the JSON text of `structuredContent`: an answer can reuse that text instead of serialising the
 * structured copy a second time (see `structuredJsonOf`).
 */
const serializedResults = new WeakSet<object>();

/** The JSON of a successful result's `structuredContent`, when the pipeline built it (and so already has it). */
export function structuredJsonOf(outcome: CallToolOutcome): string | undefined {
  if (!serializedResults.has(outcome)) return undefined;
  const first = outcome.content[0];
  return first?.type === 'text' ? (first as { text: string }).text : undefined;
}

/** A result has `structuredContent`; an error has `isError` and its payload in `_meta` (see TOOL_ERROR_META_KEY). */
export interface CallToolOutcome {
  content: ({ type: 'text'; text: string } | ExtraContent)[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: { [TOOL_ERROR_META_KEY]: ToolErrorPayload };
  [key: string]: unknown;
}

export interface PipelineOptions<Deps> {
  tools: readonly AnyTool<Deps>[];
  deps: Deps;
  exposure: ExposureSettings;
  toolTimeoutMs: number;
  /** Per-tool budgets, keyed by tool name; built once from the tool's default and TOOL_RATE_LIMITS. */
  toolLimiters: ReadonlyMap<string, RateLimiter>;
  logger: Logger;
  /** Where the one audit line per call goes (see createLoggers). */
  auditLogger: Logger;
  metrics: FleetMetrics;
  /** Aborted when the replica stops waiting for in-flight calls during shutdown. */
  shutdownSignal: AbortSignal;
}

/** The JSON-RPC request a call came in, as far as the transport knows it: what the span records. */
export interface CallRequest {
  id?: string | number;
  /** The revision the request was sent under (MCP-Protocol-Version header or the 2026-07-28 envelope). */
  protocolVersion?: string;
}

interface RegisteredTool<Deps> {
  tool: AnyTool<Deps>;
  descriptor: ToolDescriptor;
  exposed: ReturnType<typeof exposureOf>;
  log: Logger;
}

/**
 * The per-call chain every tool runs through, built once per process:
 * authorize scopes → validate → rate-limit → timeout with the request's abort signal → handler →
 * metrics, span, audit → error mapping. (Authentication happens before, at the transport edge.)
 */
export class ToolPipeline<Deps> {
  private readonly registry = new Map<string, RegisteredTool<Deps>>();
  private readonly series = new Map<string, { calls: { inc(): void }; duration: { observe(value: number): void } }>();

  constructor(private readonly options: PipelineOptions<Deps>) {
    for (const tool of options.tools) {
      if (this.registry.has(tool.name)) throw new Error(`tool ${tool.name} is defined twice`);
      this.registry.set(tool.name, {
        tool,
        descriptor: describeTool(tool),
        exposed: exposureOf(tool, options.exposure),
        // Built once: a pino child per call is measurable at thousands of calls per second.
        log: options.logger.child({ tool: tool.name }),
      });
    }
  }

  /** What `tools/list` shows this caller: exposed tools whose scopes the caller holds. */
  list(principal: Principal): ToolDescriptor[] {
    return [...this.registry.values()]
      .filter((entry) => entry.exposed.exposed && visibleTo(entry.tool, principal))
      .map((entry) => entry.descriptor);
  }

  /** Every tool this replica offers anyone (READ_ONLY, the service's configuration, TOOLS_ENABLED/DISABLED applied), in order. */
  exposedTools(): AnyTool<Deps>[] {
    return [...this.registry.values()].filter((entry) => entry.exposed.exposed).map((entry) => entry.tool);
  }

  /** Whether a tool of this name exists here (offered or not: calling a hidden one is refused by `call`). */
  offers(name: string): boolean {
    return this.registry.has(name);
  }

  /** Scopes the caller lacks for a tool it may otherwise call; empty when it may, or when the tool is not offered. */
  missingScopesFor(name: string, principal: Principal): string[] {
    const entry = this.registry.get(name);
    if (!entry?.exposed.exposed) return [];
    return missingScopes(principal, entry.tool.scopes);
  }

  /** Every scope any offered tool needs or checks for: what a 401 challenge advertises. */
  scopesSupported(): string[] {
    return scopesOf(this.exposedTools());
  }

  async call(
    name: string,
    args: Record<string, unknown> | undefined,
    principal: Principal,
    requestSignal: AbortSignal,
    meta: Record<string, unknown> | undefined,
    request: CallRequest = {},
  ): Promise<CallToolOutcome> {
    const entry = this.registry.get(name);
    if (!entry) {
      // An unknown tool is a protocol error: the client asked for something that was never listed.
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
    const started = performance.now();
    return withMcpSpan(
      { method: 'tools/call', toolName: name, requestId: request.id, protocolVersion: request.protocolVersion },
      meta,
      async () => {
        const errorId = newErrorId();
        let outcome: CallToolOutcome;
        let errorCode: string | null = null;
        try {
          outcome = await this.run(entry, args ?? {}, principal, requestSignal);
        } catch (error) {
          const toolError = this.mapError(error, requestSignal, errorId, name);
          errorCode = toolError.code;
          const payload = errorPayload(toolError, errorId);
          // Keys in the order the SDK's result schema gives them, so both answering paths send the same bytes.
          outcome = {
            _meta: { [TOOL_ERROR_META_KEY]: payload },
            content: [{ type: 'text', text: errorText(payload) }],
            isError: true,
          };
        }
        const durationMs = performance.now() - started;
        this.record(entry.tool, principal, args, errorCode, durationMs);
        return outcome;
      },
      (result) => result._meta?.[TOOL_ERROR_META_KEY].code,
    );
  }

  private async run(
    entry: RegisteredTool<Deps>,
    args: Record<string, unknown>,
    principal: Principal,
    requestSignal: AbortSignal,
  ): Promise<CallToolOutcome> {
    const { tool } = entry;
    if (!entry.exposed.exposed) throw new ToolError('FORBIDDEN', entry.exposed.reason);
    const missing = missingScopes(principal, tool.scopes);
    if (missing.length > 0) {
      throw new ToolError(
        'FORBIDDEN',
        `Tool ${tool.name} needs the scope(s) ${missing.join(', ')}, which this caller lacks.`,
      );
    }
    const malformed = malformedTextAt(args);
    if (malformed !== undefined) {
      throw new ToolError(
        'INVALID_ARGUMENT',
        `Invalid arguments for ${tool.name}: ${malformed}: the text is not valid Unicode (it holds a lone surrogate); send it as proper UTF-8.`,
      );
    }
    const parsed = tool.input.safeParse(args);
    if (!parsed.success) {
      throw new ToolError('INVALID_ARGUMENT', `Invalid arguments for ${tool.name}: ${describeIssues(parsed.error)}`);
    }
    const limiter = this.options.toolLimiters.get(tool.name);
    if (limiter) {
      const decision = await limiter.consume(`${principal.tenant}/${principal.subject}`);
      if (!decision.allowed) {
        this.options.metrics.rateLimited.inc({ scope: 'tool' });
        throw new ToolError('RATE_LIMITED', `Too many ${tool.name} calls; retry after ${decision.retryAfterMs} ms.`, {
          retryAfterMs: decision.retryAfterMs,
        });
      }
    }
    // The caller gets TIMEOUT at the deadline even if the handler is slow to notice the abort. Not
    // aborted on return: a handler has finished its work when it returns.
    let handlerSignal: AbortSignal | undefined;
    let output: unknown;
    try {
      output = await withDeadline(
        this.options.toolTimeoutMs,
        [requestSignal, this.options.shutdownSignal],
        (signal) => {
          handlerSignal = signal;
          return tool.handler(parsed.data, { principal, signal, log: entry.log, deps: this.options.deps });
        },
      );
    } catch (error) {
      // An error the abort itself caused (a cancelled statement, say) means the same as the stop.
      if (!(error instanceof ToolError) && handlerSignal?.aborted) throw new CallStoppedError('aborted');
      throw error;
    }
    const structured = tool.output.parse(output) as Record<string, unknown>;
    const extra = tool.extraContent?.(structured) ?? [];
    const result = {
      content: [{ type: 'text' as const, text: JSON.stringify(structured) }, ...extra],
      structuredContent: structured,
    };
    serializedResults.add(result);
    return result;
  }

  /** The one place where failures become SPEC §2 tool errors. Unknown failures are logged with their errorId and never shown. */
  private mapError(error: unknown, requestSignal: AbortSignal, errorId: string, tool: string): ToolError {
    if (error instanceof ToolError) {
      if (error.code === 'INTERNAL' || error.code === 'UNAVAILABLE') {
        this.options.logger.warn({ errorId, tool, err: error.cause ?? error }, 'tool failed');
      }
      return error;
    }
    if (error instanceof CallStoppedError) {
      if (requestSignal.aborted) return new ToolError('TIMEOUT', 'The request was cancelled by the client.');
      if (this.options.shutdownSignal.aborted) {
        return new ToolError('UNAVAILABLE', 'The server is shutting down; retry on another replica.', {
          retryAfterMs: 1000,
        });
      }
      return new ToolError(
        'TIMEOUT',
        `The call exceeded the ${this.options.toolTimeoutMs} ms time limit and was stopped; narrow the request and retry.`,
      );
    }
    if (isBrokenCircuit(error)) {
      return new ToolError('UNAVAILABLE', 'A backend of this server is unavailable; retry later.', {
        retryAfterMs: 5000,
      });
    }
    if (error instanceof RateLimitStoreUnavailableError) {
      return new ToolError('UNAVAILABLE', 'Rate limiting is unavailable; retry later.', { retryAfterMs: 1000 });
    }
    this.options.logger.error({ errorId, tool, err: error }, 'tool failed unexpectedly');
    return new ToolError('INTERNAL', `An internal error occurred; quote errorId ${errorId} when reporting it.`);
  }

  /**
   * The metric series of one tool and outcome, looked up once: prom-client hashes a label set on
   * every `inc` and `observe`, which was measurable per call. Bounded by tools × error codes.
   */
  private seriesFor(tool: string, outcome: string) {
    const key = `${tool}\u0000${outcome}`;
    let series = this.series.get(key);
    if (!series) {
      const { metrics } = this.options;
      series = {
        calls: metrics.toolCalls.labels({ tool, outcome }),
        duration: metrics.operationDuration.labels({
          mcp_method_name: 'tools/call',
          gen_ai_tool_name: tool,
          outcome: outcome === 'success' ? 'success' : 'error',
        }),
      };
      this.series.set(key, series);
    }
    return series;
  }

  private record(
    definition: AnyTool<Deps>,
    principal: Principal,
    args: Record<string, unknown> | undefined,
    errorCode: string | null,
    durationMs: number,
  ): void {
    const tool = definition.name;
    const outcome = errorCode ?? 'success';
    const { auditLogger } = this.options;
    const series = this.seriesFor(tool, outcome);
    series.calls.inc();
    series.duration.observe(durationMs / 1000);
    // The digests cost more than the rest of the bookkeeping; skip them when the line would be dropped.
    if (!auditLogger.isLevelEnabled('info')) return;
    writeAudit(auditLogger, {
      subject: principal.subject,
      tenant: principal.tenant,
      tool,
      outcome: errorCode ? 'error' : 'success',
      errorCode,
      durationMs: Math.round(durationMs * 100) / 100,
      // The one-shot form: no Hash object per call.
      argsSha256: hash('sha256', JSON.stringify(args ?? {})),
      ...definition.auditFields?.(args ?? {}),
    });
  }
}

/**
 * Where the arguments hold a string (key or value) that is not well-formed Unicode, if anywhere. Such text cannot
 * be encoded as UTF-8 for Postgres, a file or a webhook without silently changing it, and some encoders throw on it
 * (found by test/fuzz), so every tool refuses it here, once, before its own schema runs.
 */
function malformedTextAt(value: unknown, path = '(arguments)'): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : path;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = path === '(arguments)' ? key : `${path}.${key}`;
    if (!key.isWellFormed()) return at;
    const found = malformedTextAt(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 10)
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(arguments)';
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}
