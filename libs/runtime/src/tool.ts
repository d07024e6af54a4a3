import type { Principal } from '@flotilla/auth';
import type { Logger } from '@flotilla/telemetry';
import { z } from 'zod';

export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** What a tool that only reads says of itself: no change, safe to repeat, nothing outside the server's domain. */
export const READ_ANNOTATIONS: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

export interface ToolContext<Deps> {
  principal: Principal;
  /** Aborted on client cancellation, disconnect, TOOL_TIMEOUT_MS or shutdown: pass it to every I/O call. */
  signal: AbortSignal;
  log: Logger;
  deps: Deps;
}

/**
 * One tool, declared in one place: what the model sees, what it needs, and its domain logic.
 * Authentication, scopes, validation, limits, timeouts, metrics and error mapping are applied
 * around `handler` by the runtime, never inside it.
 */
export interface ToolDefinition<
  Deps,
  Input extends z.ZodObject = z.ZodObject,
  Output extends z.ZodObject = z.ZodObject,
> {
  name: string;
  title: string;
  description: string;
  scopes: readonly string[];
  /**
   * Scopes the handler itself checks for some inputs only (a mass send needing notify:broadcast):
   * never required to call the tool, but advertised with the others, so a client knows to ask for them.
   */
  optionalScopes?: readonly string[];
  annotations: ToolAnnotations;
  input: Input;
  output: Output;
  /** A per-principal budget for this tool alone, on top of RATE_LIMIT_PER_MINUTE (TOOL_RATE_LIMITS overrides it). */
  rateLimitPerMinute?: number;
  handler(input: z.output<Input>, context: ToolContext<Deps>): Promise<z.input<Output>>;
  /**
   * Content blocks shown after the JSON text, for data a client should see in its native form
   * (a binary file as an embedded blob). structuredContent stays the contract.
   */
  extraContent?(output: z.output<Output>): ExtraContent[];
  /** Fields added to the call's audit line, derived from the raw arguments (e.g. a path's hash, never the path). */
  auditFields?(args: Record<string, unknown>): Record<string, string>;
}

/** An embedded resource: the MCP way to hand a client bytes with their MIME type. */
export interface ExtraContent {
  type: 'resource';
  resource: { uri: string; mimeType: string; blob: string };
}

// biome-ignore lint/suspicious/noExplicitAny: a registry holds tools of every input and output shape.
export type AnyTool<Deps> = ToolDefinition<Deps, any, any>;

/** Binds a service's dependency type once, so each tool file infers its own input and output types. */
export function toolsFor<Deps>() {
  return <Input extends z.ZodObject, Output extends z.ZodObject>(
    definition: ToolDefinition<Deps, Input, Output>,
  ): ToolDefinition<Deps, Input, Output> => definition;
}

type JsonObjectSchema = { type: 'object'; [key: string]: unknown };

export interface ToolDescriptor {
  name: string;
  title: string;
  description: string;
  inputSchema: JsonObjectSchema;
  outputSchema: JsonObjectSchema;
  annotations: ToolAnnotations & { title: string };
}

/** The `tools/list` entry, derived once from the zod schemas the handler is validated with. */
export function describeTool<Deps>(tool: AnyTool<Deps>): ToolDescriptor {
  const inputSchema = z.toJSONSchema(tool.input, { io: 'input', target: 'draft-2020-12' }) as JsonObjectSchema;
  if (inputSchema.additionalProperties !== false) {
    throw new Error(
      `tool ${tool.name}: its input schema must be strict (z.strictObject), so unknown properties are refused`,
    );
  }
  const outputSchema = z.toJSONSchema(tool.output, { io: 'output', target: 'draft-2020-12' }) as JsonObjectSchema;
  return {
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema,
    outputSchema,
    annotations: { title: tool.title, ...tool.annotations },
  };
}

/** Every scope these tools need or check for, sorted: what a 401 challenge, RFC 9728 metadata and a server card advertise. */
export function scopesOf<Deps>(tools: readonly AnyTool<Deps>[]): string[] {
  return [...new Set(tools.flatMap((tool) => [...tool.scopes, ...(tool.optionalScopes ?? [])]))].sort();
}
