import { hasScopes, type Principal } from '@flotilla/auth';
import { type Logger, withMcpSpan } from '@flotilla/telemetry';
import {
  McpServer,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  ResourceTemplate,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { newErrorId, ToolError } from './errors.js';
import { requestScope } from './http-app.js';
import type { CallRequest, ToolPipeline } from './pipeline.js';
import type { ServerIdentity } from './tool-call-lane.js';

export interface SurfaceContext<Deps> {
  principal: Principal;
  signal: AbortSignal;
  log: Logger;
  deps: Deps;
}

/** A family of resources addressed by one URI template, e.g. `postgres://table/{schema}/{table}`. */
export interface ResourceTemplateDefinition<Deps> {
  name: string;
  title: string;
  description: string;
  uriTemplate: string;
  mimeType: string;
  scopes: readonly string[];
  list(context: SurfaceContext<Deps>): Promise<{ uri: string; name: string; title?: string; description?: string }[]>;
  /** Text in the template's MIME type, or bytes (base64) with their own MIME type. */
  read(
    uri: URL,
    variables: Record<string, string>,
    context: SurfaceContext<Deps>,
  ): Promise<string | { blob: string; mimeType: string } | { text: string; mimeType: string }>;
}

export interface PromptDefinition<Deps> {
  name: string;
  title: string;
  description: string;
  scopes: readonly string[];
  /** Prompt arguments are strings on the wire; the shape documents and validates them. */
  args: z.ZodRawShape;
  render(args: Record<string, string | undefined>, context: SurfaceContext<Deps>): Promise<string>;
}

export interface ServiceSurface<Deps> {
  name: string;
  version: string;
  title: string;
  instructions: string;
  resources: readonly ResourceTemplateDefinition<Deps>[];
  prompts: readonly PromptDefinition<Deps>[];
}

/** How a Flotilla server names itself to clients. */
export function serverIdentityOf(surface: { name: string; title: string; version: string }): ServerIdentity {
  return { name: `flotilla-${surface.name}`, title: surface.title, version: surface.version };
}

/**
 * Builds the SDK server instance for one request (HTTP) or one connection (stdio). Tool listing and
 * dispatch are Flotilla's own, so the pipeline decides order, scopes and the error model; resources
 * and prompts use the SDK's registries, filtered by the caller's scopes.
 */
export function buildMcpServer<Deps>(
  surface: ServiceSurface<Deps>,
  pipeline: ToolPipeline<Deps>,
  principal: Principal,
  context: { deps: Deps; log: Logger },
): McpServer {
  const server = new McpServer(serverIdentityOf(surface), {
    capabilities: { tools: { listChanged: false } },
    instructions: surface.instructions,
  });
  // tools/list gets its span here; tools/call gets it from the pipeline, which both answering paths share.
  server.server.setRequestHandler('tools/list', (request, extra) => {
    const { id, protocolVersion } = requestOf(extra.mcpReq);
    return withMcpSpan(
      { method: 'tools/list', requestId: id, protocolVersion },
      request.params?._meta as Record<string, unknown> | undefined,
      async () => ({ tools: pipeline.list(principal) }),
      () => undefined,
    );
  });
  server.server.setRequestHandler('tools/call', (request, extra) =>
    pipeline.call(
      request.params.name,
      request.params.arguments,
      principal,
      withDisconnect(extra.mcpReq.signal),
      request.params._meta as Record<string, unknown> | undefined,
      requestOf(extra.mcpReq),
    ),
  );
  const surfaceContext = (signal: AbortSignal): SurfaceContext<Deps> => ({ principal, signal, ...context });

  for (const resource of surface.resources) {
    if (!hasScopes(principal, resource.scopes)) continue;
    server.registerResource(
      resource.name,
      new ResourceTemplate(resource.uriTemplate, {
        list: async (extra) => ({
          resources: (await resource.list(surfaceContext(extra.mcpReq.signal))).map((item) => ({
            ...item,
            mimeType: resource.mimeType,
          })),
        }),
      }),
      { title: resource.title, description: resource.description, mimeType: resource.mimeType },
      async (uri, variables, extra) => {
        const flat = Object.fromEntries(
          Object.entries(variables).map(([key, value]) => [
            key,
            Array.isArray(value) ? value.join('/') : String(value),
          ]),
        );
        const body = await asProtocolError({ kind: 'resource', name: uri.href }, context.log, () =>
          resource.read(uri, flat, surfaceContext(extra.mcpReq.signal)),
        );
        const content = typeof body === 'string' ? { text: body, mimeType: resource.mimeType } : body;
        return { contents: [{ uri: uri.href, ...content }] };
      },
    );
  }

  for (const prompt of surface.prompts) {
    if (!hasScopes(principal, prompt.scopes)) continue;
    server.registerPrompt(
      prompt.name,
      { title: prompt.title, description: prompt.description, argsSchema: argsSchemaOf(prompt) },
      async (args, extra) => {
        const text = await asProtocolError({ kind: 'prompt', name: prompt.name }, context.log, () =>
          prompt.render(args as Record<string, string | undefined>, surfaceContext(extra.mcpReq.signal)),
        );
        return { messages: [{ role: 'user', content: { type: 'text', text } }] };
      },
    );
  }
  return server;
}

/**
 * Each prompt's argument schema, built once: the SDK's handler builds a server per request, and
 * `z.object` was a tenth of the CPU of such a request.
 */
const argsSchemas = new WeakMap<object, z.ZodObject>();
function argsSchemaOf(prompt: PromptDefinition<unknown>): z.ZodObject {
  let schema = argsSchemas.get(prompt);
  if (!schema) {
    schema = z.object(prompt.args);
    argsSchemas.set(prompt, schema);
  }
  return schema;
}

/**
 * Resource and prompt callbacks have no isError channel: domain errors become JSON-RPC errors, and
 * anything else is logged with an errorId the caller can quote, never shown.
 */
async function asProtocolError<T>(
  subject: { kind: 'resource' | 'prompt'; name: string },
  log: Logger,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ToolError) {
      if (error.code === 'NOT_FOUND' && subject.kind === 'resource') throw new ResourceNotFoundError(subject.name);
      if (error.code === 'INVALID_ARGUMENT' || error.code === 'FORBIDDEN' || error.code === 'NOT_FOUND') {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, error.message);
      }
      throw new ProtocolError(ProtocolErrorCode.InternalError, `${error.code}: ${error.message}`);
    }
    const errorId = newErrorId();
    log.error({ errorId, [subject.kind]: subject.name, err: error }, `${subject.kind} failed unexpectedly`);
    throw new ProtocolError(ProtocolErrorCode.InternalError, `internal error; quote errorId ${errorId}`);
  }
}

/** The request id and revision a span records: the 2026-07-28 envelope names the revision, else the HTTP header. */
function requestOf(request: {
  id: string | number;
  envelope?: { 'io.modelcontextprotocol/protocolVersion'?: string };
}): CallRequest {
  const protocolVersion =
    request.envelope?.['io.modelcontextprotocol/protocolVersion'] ?? requestScope.getStore()?.protocolVersion;
  return { id: request.id, protocolVersion };
}

/** Cancellation reaches a call either as an MCP cancel notification or as the HTTP client disconnecting. */
function withDisconnect(signal: AbortSignal): AbortSignal {
  const disconnected = requestScope.getStore()?.signal;
  return disconnected ? AbortSignal.any([signal, disconnected]) : signal;
}
