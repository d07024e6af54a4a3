import { randomUUID } from 'node:crypto';

/** The error vocabulary every Flotilla tool speaks (SPEC §2). */
const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'CONFLICT',
  'FORBIDDEN',
  'RATE_LIMITED',
  'TIMEOUT',
  'UNAVAILABLE',
  'PRECONDITION_FAILED',
  'TOO_LARGE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['RATE_LIMITED', 'TIMEOUT', 'UNAVAILABLE']);

/**
 * A failure the model caused or can react to. Its message is written for the model: what went
 * wrong and what to do instead. It must never contain a secret, a connection string or a host name.
 */
export class ToolError extends Error {
  override name = 'ToolError';
  readonly retryable: boolean;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { retryAfterMs?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.retryAfterMs = options.retryAfterMs;
  }
  readonly retryAfterMs: number | undefined;
}

export interface ToolErrorPayload {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  errorId: string;
}

export function newErrorId(): string {
  return randomUUID();
}

/**
 * Where a tool error's machine-readable payload travels: the result's `_meta`, never `structuredContent`.
 * Clients validate `structuredContent` against the tool's outputSchema (the 1.x SDK client throws when it does not
 * fit), while `_meta` is free-form and passed through by every client. Reverse-DNS prefix, as MCP asks of `_meta` keys.
 */
export const TOOL_ERROR_META_KEY = 'io.github.flotilla/error';

export function errorPayload(error: ToolError, errorId: string): ToolErrorPayload {
  return {
    code: error.code,
    message: error.message,
    retryable: error.retryable,
    ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    errorId,
  };
}

/**
 * The text a model reads: what went wrong and what to do instead (the message), the code, whether and when a
 * retry may succeed, and the errorId that links to the server's log line.
 */
export function errorText(payload: ToolErrorPayload): string {
  const retry = !payload.retryable
    ? 'Retrying the same call will not help.'
    : payload.retryAfterMs !== undefined
      ? `Retryable after ${payload.retryAfterMs} ms.`
      : 'Retryable.';
  return `${payload.code}: ${payload.message}\n${retry} errorId: ${payload.errorId}`;
}
