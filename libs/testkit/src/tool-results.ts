import type { Client } from '@modelcontextprotocol/client';

export type ToolOutcome = {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content?: { type: string; [key: string]: unknown }[];
  _meta?: Record<string, unknown>;
};

export interface ToolErrorShape {
  code: string;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  errorId: string;
}

/** Where SPEC §2 puts a tool error's machine-readable payload: the result's `_meta`, under Flotilla's key. */
export const TOOL_ERROR_META_KEY = 'io.github.flotilla/error';

export async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<ToolOutcome> {
  return (await client.callTool({ name, arguments: args })) as ToolOutcome;
}

/**
 * The SPEC §2 error of a failed tool call; throws (failing the test) if the call succeeded, or if the error
 * breaks the contract: structuredContent on an error (validating clients reject it), or no payload in `_meta`.
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
  return payload;
}

/** The structured result of a successful tool call; throws (failing the test) with the error otherwise. */
export function resultOf<T = Record<string, unknown>>(outcome: ToolOutcome): T {
  if (outcome.isError) throw new Error(`expected a result, got an error: ${JSON.stringify(outcome.content)}`);
  return outcome.structuredContent as T;
}
