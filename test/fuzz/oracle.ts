import { ERROR_CODES, TOOL_ERROR_META_KEY } from '@flotilla/testkit';
import type { RawAnswer } from './raw-http.js';

// What every answer must satisfy, whatever was sent (SPEC §2, §5): it arrives in time, it is never a 5xx except the
// documented 503s, its JSON-RPC is well-formed, every tool error has the SPEC §2 shape with a known code, and nothing
// in it leaks a stack trace, a file path of the server, a connection string, a secret or an internal address.

export interface Secrets {
  /** Literal strings no answer may contain (the API key, the FILES_ROOT, the repository path, passwords…). */
  literals: readonly string[];
  /** Loopback ports an answer may name: the MCP port (and any the request itself named, echoed back). */
  allowedPorts: readonly number[];
}

const STACK_LINE = /\n\s+at .+:\d+:\d+/;
const STACK_FRAME = /\bat (?:async )?\S*\s?\(?(?:file:\/\/|node:|\/)[^\s)]*:\d+:\d+/;
/** A connection string (credentials or a host:port), not a resource URI such as postgres://table/public/orders. */
const CONNECTION_STRING = /\b(?:postgres(?:ql)?|redis|rediss|smtp|smtps):\/\/[^/\s"]*[@:]/i;
const LOOPBACK_ADDRESS = /\b(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)/g;
const ERROR_META_KEYS = new Set(['code', 'message', 'retryable', 'retryAfterMs', 'errorId']);
const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/** Problems with one answer; empty when it satisfies every property. */
export function problemsOf(
  method: string,
  answer: RawAnswer,
  secrets: Secrets,
  boundMs: number,
  sentBytes: number,
  maxBody: number,
): string[] {
  const problems: string[] = [];
  if (answer.status === 0) {
    // A body over MAX_BODY_BYTES may be refused before it is all sent; the refusal can then race the upload.
    if (!(sentBytes > maxBody && (answer.error === 'EPIPE' || answer.error === 'ECONNRESET'))) {
      problems.push(`no answer: ${answer.error}`);
    }
    return problems;
  }
  if (answer.ms > boundMs) problems.push(`answered after ${Math.round(answer.ms)} ms (bound ${boundMs} ms)`);
  if (answer.status >= 500) {
    // SPEC §5 / README: 503 with Retry-After at MAX_INFLIGHT, while draining, or with Redis down in closed mode.
    if (answer.status !== 503 || answer.headers['retry-after'] === undefined) {
      problems.push(`HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
    }
  }
  problems.push(...leaksIn(answer, secrets));
  // An answer to HEAD has the headers of the GET answer and no body.
  if (method === 'HEAD') return problems;
  const type = answer.headers['content-type'] ?? '';
  if (type.includes('application/json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      problems.push(`a JSON answer that does not parse: ${answer.body.slice(0, 200)}`);
      return problems;
    }
    problems.push(...jsonProblems(parsed));
  } else if (type.includes('text/event-stream')) {
    for (const line of answer.body.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '') continue;
      try {
        problems.push(...jsonProblems(JSON.parse(data)));
      } catch {
        problems.push(`an SSE event that is not JSON: ${data.slice(0, 200)}`);
      }
    }
  }
  return problems;
}

function jsonProblems(parsed: unknown): string[] {
  if (Array.isArray(parsed)) return parsed.flatMap((item) => messageProblems(item));
  if (typeof parsed !== 'object' || parsed === null) return [`a JSON answer that is not an object: ${String(parsed)}`];
  // OAuth-style refusals (401, 403 insufficient_scope) and the discovery documents are not JSON-RPC.
  if (!('jsonrpc' in parsed))
    return 'error' in parsed && typeof parsed.error !== 'string' ? ['an OAuth error without a string error'] : [];
  return messageProblems(parsed);
}

function messageProblems(message: unknown): string[] {
  if (typeof message !== 'object' || message === null) return [`a JSON-RPC message that is not an object`];
  const m = message as Record<string, unknown>;
  const problems: string[] = [];
  if (m.jsonrpc !== '2.0') problems.push(`jsonrpc is ${JSON.stringify(m.jsonrpc)}`);
  const hasResult = 'result' in m;
  const hasError = 'error' in m;
  if ('method' in m) return problems; // a server-sent notification or request on the stream
  if (hasResult === hasError) problems.push('a response with both or neither of result and error');
  if (!('id' in m) || !(m.id === null || typeof m.id === 'string' || typeof m.id === 'number')) {
    problems.push(`a response id of the wrong type: ${JSON.stringify(m.id)}`);
  }
  if (hasError) {
    const error = m.error as Record<string, unknown> | null;
    if (typeof error !== 'object' || error === null) problems.push('error is not an object');
    else {
      if (!Number.isInteger(error.code)) problems.push(`error.code is not an integer: ${JSON.stringify(error.code)}`);
      if (typeof error.message !== 'string') problems.push('error.message is not a string');
    }
  }
  if (hasResult) problems.push(...resultProblems(m.result));
  return problems;
}

function resultProblems(result: unknown): string[] {
  if (typeof result !== 'object' || result === null) return ['result is not an object'];
  const r = result as Record<string, unknown>;
  if (r.isError !== true) return [];
  const problems: string[] = [];
  if ('structuredContent' in r) problems.push('a tool error with structuredContent');
  const meta = r._meta as Record<string, unknown> | undefined;
  const payload = meta?.[TOOL_ERROR_META_KEY] as Record<string, unknown> | undefined;
  if (typeof payload !== 'object' || payload === null)
    return [...problems, `a tool error without _meta["${TOOL_ERROR_META_KEY}"]`];
  if (typeof payload.code !== 'string' || !KNOWN_CODES.has(payload.code))
    problems.push(`unknown error code ${JSON.stringify(payload.code)}`);
  if (typeof payload.message !== 'string' || payload.message === '') problems.push('error message missing');
  if (typeof payload.retryable !== 'boolean') problems.push('retryable is not a boolean');
  if (typeof payload.errorId !== 'string' || payload.errorId === '') problems.push('errorId missing');
  if ('retryAfterMs' in payload && !(typeof payload.retryAfterMs === 'number' && payload.retryAfterMs >= 0)) {
    problems.push(`retryAfterMs is ${JSON.stringify(payload.retryAfterMs)}`);
  }
  const extra = Object.keys(payload).filter((key) => !ERROR_META_KEYS.has(key));
  if (extra.length > 0) problems.push(`error payload has unknown keys ${extra.join(', ')}`);
  const content = r.content as { type?: unknown; text?: unknown }[] | undefined;
  if (!Array.isArray(content) || !content.some((item) => item.type === 'text' && typeof item.text === 'string')) {
    problems.push('a tool error without a text for the model');
  }
  return problems;
}

/** Leaks in the body (raw, and with JSON escapes undone) and in header values. */
function leaksIn(answer: RawAnswer, secrets: Secrets): string[] {
  const texts = [answer.body, unescapeJson(answer.body), ...Object.values(answer.headers)];
  const problems = new Set<string>();
  for (const text of texts) {
    if (STACK_LINE.test(text) || STACK_FRAME.test(text))
      problems.add(`a stack trace: ${excerpt(text, STACK_FRAME) ?? excerpt(text, STACK_LINE)}`);
    if (CONNECTION_STRING.test(text)) problems.add(`a connection string: ${excerpt(text, CONNECTION_STRING)}`);
    for (const literal of secrets.literals)
      if (text.includes(literal)) problems.add(`a secret or server path: ${literal}`);
    for (const match of text.matchAll(LOOPBACK_ADDRESS)) {
      if (!secrets.allowedPorts.includes(Number(match[1]))) problems.add(`an internal address: ${match[0]}`);
    }
  }
  return [...problems];
}

function unescapeJson(text: string): string {
  return text
    .replace(/\\n/g, '\n')
    .replace(/\\t/g, '\t')
    .replace(/\\\//g, '/')
    .replace(/\\"/g, '"')
    .replace(/\\\\/g, '\\');
}

function excerpt(text: string, pattern: RegExp): string | undefined {
  const match = pattern.exec(text);
  return match ? text.slice(Math.max(0, match.index - 40), match.index + 120) : undefined;
}
