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

export function errorPayload(error: ToolError, errorId: string): ToolErrorPayload {
  return {
    code: error.code,
    message: error.message,
    retryable: error.retryable,
    ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    errorId,
  };
}
