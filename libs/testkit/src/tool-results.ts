import type { Client } from '@modelcontextprotocol/client';

export type ToolOutcome = {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content?: { type: string; [key: string]: unknown }[];
};

export interface ToolErrorShape {
  code: string;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  errorId: string;
}

export async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<ToolOutcome> {
  return (await client.callTool({ name, arguments: args })) as ToolOutcome;
}

/** The SPEC §2 error of a failed tool call; throws (failing the test) if the call succeeded. */
export function errorOf(outcome: ToolOutcome): ToolErrorShape {
  if (outcome.isError !== true) {
    throw new Error(`expected a tool error, got a result: ${JSON.stringify(outcome.structuredContent)}`);
  }
  return (outcome.structuredContent as { error: ToolErrorShape }).error;
}

/** The structured result of a successful tool call; throws (failing the test) with the error otherwise. */
export function resultOf<T = Record<string, unknown>>(outcome: ToolOutcome): T {
  if (outcome.isError) throw new Error(`expected a result, got an error: ${JSON.stringify(outcome.structuredContent)}`);
  return outcome.structuredContent as T;
}
