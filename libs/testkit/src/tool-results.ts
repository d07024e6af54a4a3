import type { Client } from '@modelcontextprotocol/client';

export type ToolOutcome = {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content?: { type: string; [key: string]: unknown }[];
  _meta?: Record<string, unknown>;
};

export interface ToolErrorShape {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  errorId: string;
}

/** SPEC §2's error codes, the only ones a tool error may carry. */
export const ERROR_CODES = [
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

/** Where SPEC §2 puts a tool error's machine-readable payload: the result's `_meta`, under Flotilla's key. */
export const TOOL_ERROR_META_KEY = 'io.github.flotilla/error';

export async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<ToolOutcome> {
  return (await client.callTool({ name, arguments: args })) as ToolOutcome;
}

/**
 * The SPEC §2 error of a failed tool call; throws (failing the test) if the call succeeded, or if the error
 * breaks the contract: structuredContent on an error (validating clients reject it), no payload in `_meta`, or
 * a code outside SPEC §2's list.
 */
export function errorOf(outcome: ToolOutcome): ToolErrorShape {
  if (outcome.isError !== true) {
    throw new Error(`expected a tool error, got a result: ${JSON.stringify(outcome.structuredContent)}`);
  }
  if (outcome.structuredContent !== undefined) {
    throw new Error(`a tool error must not carry structuredContent: ${JSON.stringify(outcome.structuredContent)}`);
  }
  const payload = outcome._meta?.[TOOL_ERROR_META_KEY] as ToolErrorShape | undefined;
  if (!payload) throw new Error(`a tool error without its ${TOOL_ERROR_META_KEY} payload: ${JSON.stringify(outcome)}`);
  if (!ERROR_CODES.includes(payload.code)) throw new Error(`a tool error with an unknown code: ${payload.code}`);
  return payload;
}

/** The structured result of a successful tool call; throws (failing the test) with the error otherwise. */
export function resultOf<T = Record<string, unknown>>(outcome: ToolOutcome): T {
  if (outcome.isError) throw new Error(`expected a result, got an error: ${JSON.stringify(outcome.content)}`);
  return outcome.structuredContent as T;
}
