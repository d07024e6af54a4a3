import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import {
  type Authenticator,
  bearerChallenge,
  type Principal,
  protectedResourceMetadata,
  resourceMetadataUrl,
} from '@flotilla/auth';
import { type RateLimiter, RateLimitStoreUnavailableError } from '@flotilla/resilience';
import type { FleetMetrics, Logger } from '@flotilla/telemetry';
import { hostHeaderValidation } from '@modelcontextprotocol/express';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { type AuthInfo, createMcpHandler, type McpServer, validateHostHeader } from '@modelcontextprotocol/server';
import { BulkheadRejectedError, bulkhead } from 'cockatiel';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { CallCancellation } from './call-cancellation.js';
import type { RuntimeConfig } from './config.js';
import type { ToolPipeline } from './pipeline.js';
import { CATALOG_PATH, catalogOf, SERVER_CARD_MEDIA_TYPE, type ServerCard, serverCardPaths } from './server-card.js';
import { acceptToolCall, type ServerIdentity, toolCallAnswer } from './tool-call-lane.js';

export interface HttpAppOptions<Deps> {
  config: RuntimeConfig;
  serviceName: string;
  authenticator: Authenticator;
  principalLimiter: RateLimiter;
  pipeline: ToolPipeline<Deps>;
  buildServer: (principal: Principal) => McpServer;
  /** What a 2026-07-28 result names as its server. */
  serverIdentity: ServerIdentity;
  /** Served unauthenticated on the public port (server-card.ts), like the RFC 9728 metadata. */
  serverCard: ServerCard;
  logger: Logger;
  metrics: FleetMetrics;
  inflight: InflightTracker;
  cancellation: CallCancellation;
}

/**
 * Per-HTTP-request context the pipeline reads: the signal that fires when the client goes away, and the
 * MCP-Protocol-Version header (a 2025-era stateless request names its revision only there).
 */
export const requestScope = new AsyncLocalStorage<{ signal: AbortSignal; protocolVersion?: string }>();

/** Counts requests in progress so shutdown can wait for them to finish. */
export class InflightTracker {
  private active = 0;
  private begun = 0;
  private waiters: (() => void)[] = [];
  get count(): number {
    return this.active;
  }
  /** Requests begun since start-up. */
  get started(): number {
    return this.begun;
  }
  enter(): void {
    this.active += 1;
    this.begun += 1;
  }
  leave(): void {
    this.active -= 1;
    if (this.active === 0) for (const wake of this.waiters.splice(0)) wake();
  }
  idle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** What the SDK's node handler reads the caller from: `auth.extra.principal`. */
type McpRequest = IncomingMessage & { auth?: AuthInfo };

/**
 * The methods a client may send, by the MCP revisions served (2025-06-18 to 2026-07-28). Any other method is
 * labelled `_OTHER` in metrics (OpenTelemetry's convention for a value outside a known set): a label taken from the
 * body as sent would let a client create one metric series per string it makes up (found by test/fuzz).
 */
const MCP_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'server/discover',
  'subscriptions/listen',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
]);

/** Deepest nesting of arrays and objects a request body may have (serde_json's default recursion limit). */
const MAX_JSON_DEPTH = 128;

/** Whether a parsed JSON value nests arrays and objects deeper than `limit`; iterative, as the value may be deeper than the stack. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: { item: unknown; depth: number }[] = [{ item: value, depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { item, depth } = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item))
      pending.push({ item: child, depth: depth + 1 });
  }
  return false;
}

const isRequestId = (value: unknown): value is string | number =>
  typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));

/** A JSON answer on node:http's own response: the one way /mcp answers, on either path below. */
function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      ...headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    })
    .end(text);
}

function jsonRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers?: OutgoingHttpHeaders,
): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}

/**
 * The Content-Length of a request that may skip express, its router and body-parser (about a twelfth
 * of a fast query's CPU): a POST of plain JSON (exactly `application/json`, no Content-Encoding, a
 * Content-Length within MAX_BODY_BYTES) to exactly /mcp that passes the Host and Origin checks. Its
 * body is read to that length and parsed as body-parser would (`parseJsonBody`), then meets the
 * same checks as on express's path. Anything else, and every refusal of these checks, is express's.
 */
export function plainMcpBodyLength(
  req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>,
  config: Pick<RuntimeConfig, 'ALLOWED_HOSTS' | 'ALLOWED_ORIGINS' | 'MAX_BODY_BYTES'>,
): number | undefined {
  if (req.method !== 'POST' || req.url !== '/mcp') return undefined;
  const { headers } = req;
  if (headers['content-type'] !== 'application/json') return undefined;
  if (headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined) return undefined;
  const length = Number(headers['content-length']);
  if (!Number.isSafeInteger(length) || length <= 0 || length > config.MAX_BODY_BYTES) return undefined;
  const hosts = config.ALLOWED_HOSTS;
  if (!hosts.includes('*') && !validateHostHeader(headers.host, hosts).ok) return undefined;
  if (!originAllowed(headers.origin, config.ALLOWED_ORIGINS)) return undefined;
  return length;
}

/** The Origin check of both paths: no Origin (not a browser), or one in ALLOWED_ORIGINS, or `*` there. */
function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  return !origin || allowed.includes('*') || allowed.includes(origin);
}

const UNREADABLE_BODY = 'Bad request: the body could not be read (check Content-Encoding and Content-Length).';

/** JSON's whitespace (RFC 8259), before the first character of a body. */
const LEADING_WHITESPACE = /^[ \t\n\r]*/;

/**
 * A request body as body-parser's strict JSON parser reads it (a leading BOM dropped, an empty body
 * read as `{}`, only an object or an array at the top), or undefined where it would refuse it as
 * not valid JSON.
 */
export function parseJsonBody(text: string): { value: unknown } | undefined {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.length === 0) return { value: {} };
  const first = body[0] === '{' || body[0] === '[' ? body[0] : body[LEADING_WHITESPACE.exec(body)?.[0].length ?? 0];
  if (first !== '{' && first !== '[') return undefined;
  try {
    return { value: JSON.parse(body) };
  } catch {
    return undefined;
  }
}

/**
 * The public MCP endpoint. Order matters: cheap refusals (Host, Origin, size) come before
 * authentication, and authentication before anything that spends a shared budget. The SDK's handler
 * validates MCP-Protocol-Version (400) for both protocol eras.
 */
export function createHttpApp<Deps>(options: HttpAppOptions<Deps>) {
  const { config, metrics, pipeline, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  const metadataUrl = resourceMetadataUrl(config.PUBLIC_URL);
  const metadataPath = new URL(metadataUrl).pathname;

  if (!config.ALLOWED_HOSTS.includes('*')) app.use(hostHeaderValidation(config.ALLOWED_HOSTS));

  app.use((req, res, next) => {
    if (!originAllowed(req.headers.origin, config.ALLOWED_ORIGINS)) {
      jsonRpcError(res, 403, -32000, 'Forbidden: this Origin is not allowed (ALLOWED_ORIGINS).');
      return;
    }
    next();
  });

  const metadata = () =>
    protectedResourceMetadata({
      publicUrl: config.PUBLIC_URL,
      authorizationServers: config.AUTH_SERVERS,
      scopesSupported: pipeline.scopesSupported(),
      resourceName: `Flotilla ${options.serviceName}`,
    });
  app.get(['/.well-known/oauth-protected-resource', metadataPath], (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(metadata());
  });

  // Built once: they change only with a new process, so their ETags are stable and 304s are cheap.
  const card = JSON.stringify(options.serverCard);
  const catalog = JSON.stringify(catalogOf(options.serverCard));
  const discovery = (body: string, mediaTypes: string[]) => (req: Request, res: Response) => {
    // The Origin, if any, already passed the check above: a browser client on it may read the document.
    if (req.headers.origin) res.set('Access-Control-Allow-Origin', req.headers.origin);
    res
      .vary('Origin')
      .set('Cache-Control', 'public, max-age=300')
      .type(req.accepts(mediaTypes) || 'application/json')
      .send(body);
  };
  app.get(serverCardPaths(config.PUBLIC_URL), discovery(card, ['application/json', SERVER_CARD_MEDIA_TYPE]));
  app.get(CATALOG_PATH, discovery(catalog, ['application/json']));

  const handler = createMcpHandler(
    (context) => {
      const principal = (context.authInfo?.extra as { principal?: Principal } | undefined)?.principal;
      if (!principal) throw new Error('request reached the MCP handler without a principal');
      return options.buildServer(principal);
    },
    {
      maxRequestBodySize: config.MAX_BODY_BYTES,
      onerror: (error) => logger.debug({ err: error }, 'mcp transport error'),
    },
  );
  const mcp = toNodeHandler(handler);
  const limiter = bulkhead(config.MAX_INFLIGHT, 0);

  /** The caller, or undefined once it has been answered 401 with the bearer challenge. */
  const authenticate = async (req: McpRequest, res: ServerResponse): Promise<Principal | undefined> => {
    const apiKey = req.headers['x-api-key'];
    const outcome = await options.authenticator.authenticate({
      authorization: req.headers.authorization,
      apiKey: typeof apiKey === 'string' ? apiKey : undefined,
    });
    if (!outcome.ok) {
      metrics.authFailures.inc({ reason: outcome.reason });
      const challenge = bearerChallenge({
        metadataUrl,
        scopes: pipeline.scopesSupported(),
        ...(outcome.reason === 'missing' ? {} : { error: 'invalid_token', description: outcome.description }),
      });
      sendJson(
        res,
        401,
        {
          error: outcome.reason === 'missing' ? 'unauthorized' : 'invalid_token',
          error_description: outcome.description,
        },
        { 'www-authenticate': challenge },
      );
      return undefined;
    }
    req.auth = {
      token: '',
      clientId: outcome.principal.subject,
      scopes: [...outcome.principal.scopes],
      extra: { principal: outcome.principal },
    };
    return outcome.principal;
  };

  /** Whether the principal's budget admits the request; if not, it has been answered 429 or 503. */
  const limitPrincipal = async (principal: Principal, res: ServerResponse): Promise<boolean> => {
    try {
      const decision = await options.principalLimiter.consume(`${principal.tenant}/${principal.subject}`);
      if (!decision.allowed) {
        metrics.rateLimited.inc({ scope: 'principal' });
        jsonRpcError(
          res,
          429,
          -32000,
          `Rate limit exceeded (RATE_LIMIT_PER_MINUTE); retry after ${decision.retryAfterMs} ms.`,
          { 'retry-after': String(Math.ceil(decision.retryAfterMs / 1000)) },
        );
        return false;
      }
    } catch (error) {
      if (!(error instanceof RateLimitStoreUnavailableError)) throw error;
      jsonRpcError(res, 503, -32000, 'Rate limiting is unavailable and this server fails closed; retry shortly.', {
        'retry-after': '1',
      });
      return false;
    }
    return true;
  };

  // A call to a tool the caller may not use is refused at the HTTP edge with the OAuth step-up
  // challenge, so a client can ask for the missing scope; stdio callers get a FORBIDDEN tool error.
  const checkScopes = (body: unknown, principal: Principal, res: ServerResponse): boolean => {
    const message = body as { method?: unknown; params?: { name?: unknown } } | undefined;
    if (message?.method === 'tools/call' && typeof message.params?.name === 'string') {
      const missing = pipeline.missingScopesFor(message.params.name, principal);
      if (missing.length > 0) {
        metrics.authFailures.inc({ reason: 'insufficient_scope' });
        const challenge = bearerChallenge({
          metadataUrl,
          scopes: missing,
          error: 'insufficient_scope',
          description: `requires ${missing.join(' ')}`,
        });
        sendJson(
          res,
          403,
          { error: 'insufficient_scope', error_description: `this tool requires the scope(s) ${missing.join(' ')}` },
          { 'www-authenticate': challenge },
        );
        return false;
      }
    }
    return true;
  };

  const serve = async (req: McpRequest, res: ServerResponse, body: unknown, principal: Principal) => {
    // The client may have gone while authentication and the rate limit were awaited; its 'close'
    // has then already fired, and tracking the request now would leave it in flight forever.
    if (res.closed) return;
    const method = (body as { method?: unknown } | undefined)?.method;
    const label =
      typeof method === 'string' && method !== 'tools/call' ? (MCP_METHODS.has(method) ? method : '_OTHER') : undefined;
    const started = performance.now();
    options.inflight.enter();
    metrics.inflight.inc();
    res.on('close', () => {
      options.inflight.leave();
      metrics.inflight.dec();
      // tools/call is measured by the pipeline, which knows the tool and its outcome.
      if (label) {
        metrics.operationDuration.observe(
          { mcp_method_name: label, gen_ai_tool_name: '', outcome: res.statusCode < 400 ? 'success' : 'error' },
          (performance.now() - started) / 1000,
        );
      }
    });
    // The SDK's per-request instance does not see the HTTP connection drop, so the request's own
    // abort signal travels to the pipeline through async context.
    const disconnected = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) disconnected.abort(new Error('client disconnected'));
    });
    // A 2025-era client cancels with a notification of its own, which may have reached another replica than the
    // call (call-cancellation.ts); a 2026-era client closes the request, which `disconnected` sees.
    const message = body as { method?: unknown; id?: unknown; params?: { requestId?: unknown } } | undefined;
    if (message?.method === 'tools/call' && isRequestId(message.id)) {
      const untrack = options.cancellation.track(principal, message.id, disconnected);
      res.on('close', untrack);
    } else if (message?.method === 'notifications/cancelled' && isRequestId(message.params?.requestId)) {
      options.cancellation.cancel(principal, message.params.requestId);
    }
    const call = req.method === 'POST' ? acceptToolCall(req.headers, body, pipeline) : undefined;
    // A plain tools/call of either era goes straight to the pipeline (tool-call-lane.ts); everything else to the SDK.
    const answer = call
      ? async () => {
          const outcome = await pipeline.call(call.name, call.args, principal, disconnected.signal, call.meta, {
            id: call.id,
            protocolVersion: call.protocolVersion,
          });
          if (res.closed) return;
          const reply = toolCallAnswer(call, outcome, options.serverIdentity);
          res
            .writeHead(200, {
              ...reply.headers,
              'content-type': reply.contentType,
              'content-length': Buffer.byteLength(reply.body),
            })
            .end(reply.body);
        }
      : () => {
          const version = req.headers['mcp-protocol-version'];
          const protocolVersion = typeof version === 'string' ? version : undefined;
          return requestScope.run({ signal: disconnected.signal, protocolVersion }, () => mcp(req, res, body));
        };
    try {
      await limiter.execute(answer);
    } catch (error) {
      if (error instanceof BulkheadRejectedError) {
        jsonRpcError(res, 503, -32000, 'This replica is at MAX_INFLIGHT; retry shortly.', { 'retry-after': '1' });
        return;
      }
      throw error;
    }
  };

  /**
   * Everything /mcp does once the body is parsed, in this order, on either path below. JSON.parse
   * takes any depth, but JSON.stringify (the SDK's adapter re-serializes the body) and zod recurse and
   * overflow the stack some thousands of levels down: what no MCP message needs is refused before
   * anything recurses.
   */
  const handleMcp = async (req: McpRequest, res: ServerResponse, body: unknown): Promise<void> => {
    if (nestedDeeperThan(body, MAX_JSON_DEPTH)) {
      jsonRpcError(res, 400, -32600, `Invalid Request: the JSON is nested deeper than ${MAX_JSON_DEPTH} levels.`);
      return;
    }
    const principal = await authenticate(req, res);
    if (!principal) return;
    if (!(await limitPrincipal(principal, res))) return;
    if (!checkScopes(body, principal, res)) return;
    await serve(req, res, body, principal);
  };

  const internalError = (error: unknown, res: ServerResponse) => {
    logger.error({ err: error }, 'unhandled HTTP error');
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal error.');
  };

  app.all('/mcp', express.json({ limit: config.MAX_BODY_BYTES, type: () => true }), (req, res, next) => {
    handleMcp(req, res, req.body).catch(next);
  });

  // The common request skips express (plainMcpBodyLength below); everything else is express's above.
  const servePlain = (req: McpRequest, res: ServerResponse, length: number) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    req.on('error', () => {
      // The client went away mid-body; if it can still read, it is told what body-parser tells it.
      if (!res.headersSent && !res.destroyed) jsonRpcError(res, 400, -32600, UNREADABLE_BODY);
    });
    req.on('end', () => {
      if (received !== length) {
        jsonRpcError(res, 400, -32600, UNREADABLE_BODY);
        return;
      }
      const raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
      const parsed = parseJsonBody(raw.toString('utf8'));
      if (!parsed) {
        jsonRpcError(res, 400, -32700, 'Parse error: the body is not valid JSON.');
        return;
      }
      handleMcp(req, res, parsed.value).catch((error: unknown) => internalError(error, res));
    });
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const length = plainMcpBodyLength(req, config);
    if (length === undefined) app(req, res);
    else servePlain(req, res, length);
  };

  app.use(
    (
      error: Error & { type?: string; status?: number; expose?: boolean },
      _req: Request,
      res: Response,
      _next: NextFunction,
    ) => {
      if (error.type === 'entity.too.large') {
        jsonRpcError(res, 413, -32600, `Request body exceeds MAX_BODY_BYTES (${config.MAX_BODY_BYTES} bytes).`);
      } else if (error.type === 'entity.parse.failed') {
        jsonRpcError(res, 400, -32700, 'Parse error: the body is not valid JSON.');
      } else if (
        error.expose === true &&
        typeof error.status === 'number' &&
        error.status >= 400 &&
        error.status < 500
      ) {
        // The body parser's other refusals (an unsupported charset or Content-Encoding: 415; a body that does not
        // inflate, or disagrees with its Content-Length: 400) are the client's to fix, never a 500.
        const message =
          error.status === 415
            ? 'Unsupported body encoding: send UTF-8 JSON, uncompressed or with Content-Encoding gzip, deflate or br.'
            : UNREADABLE_BODY;
        if (!res.headersSent) jsonRpcError(res, error.status, -32600, message);
      } else {
        internalError(error, res);
      }
    },
  );

  return { handle, close: () => handler.close() };
}
