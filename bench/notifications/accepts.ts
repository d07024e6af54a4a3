import { createHistogram, performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { type LoadFigures, loadFigures } from '../database/load.ts';
import { looksLikeToolSuccess, toolResultOf, toolsCallBody } from '../database/mcp.ts';
import { CHANNEL, MESSAGE } from './notification.ts';

export interface AcceptTarget {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly protocol: string;
}

const KEY_MARK = '@@idempotency-key@@';
/**
 * The notification id in an answer: the first quoted UUID. The JSON-RPC id is a number, and the
 * copy of the result inside `content[0].text` has its quotes escaped, so this finds structuredContent.id.
 */
const NOTIFICATION_ID = /"id":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"/;

/** A send_notification call split around its idempotency key, so each request is two concatenations. */
function bodyTemplate(protocol: string): (key: string) => string {
  const body = toolsCallBody(
    'send_notification',
    { channel: CHANNEL, body: MESSAGE, idempotencyKey: KEY_MARK },
    protocol,
  );
  const [before, after] = body.split(KEY_MARK) as [string, string];
  return (key) => before + key + after;
}

export interface AcceptRun {
  readonly load: LoadFigures;
  /** Notification id → when its answer arrived (ms since the Unix epoch, sub-millisecond). */
  readonly accepted: Map<string, number>;
  /** 2xx answers naming an id already answered in this run: a key reused, which must not happen. */
  readonly repeatedIds: number;
}

/**
 * Keeps `connections` send_notification calls in flight for `seconds` (closed loop), each with an
 * idempotency key of its own (`keyPrefix`-n), and records when each notification's answer came.
 * Latency is recorded in microseconds, as in database/load.ts.
 */
export async function applyAcceptLoad(
  target: AcceptTarget,
  connections: number,
  seconds: number,
  keyPrefix: string,
): Promise<AcceptRun> {
  const latencies = createHistogram();
  const accepted = new Map<string, number>();
  const body = bodyTemplate(target.protocol);
  let next = 0;
  let failedResults = 0;
  let repeatedIds = 0;
  const onResponse = (status: number, answer: string) => {
    if (status < 200 || status >= 300) return;
    const id = looksLikeToolSuccess(answer) ? NOTIFICATION_ID.exec(answer)?.[1] : undefined;
    if (id === undefined) failedResults += 1;
    else if (accepted.has(id)) repeatedIds += 1;
    else accepted.set(id, performance.timeOrigin + performance.now());
  };
  // A fresh key per request: autocannon rebuilds a request on every send when it has a setupRequest hook.
  const request = {
    method: 'POST',
    onResponse,
    setupRequest: (defaults: Record<string, unknown>) => ({ ...defaults, body: body(`${keyPrefix}-${next++}`) }),
  };
  const instance = autocannon({
    url: target.url,
    method: 'POST',
    headers: { ...target.headers },
    requests: [request],
    connections,
    duration: seconds,
    timeout: 10,
  });
  instance.on('response', (_client, statusCode, _bytes, ms) => {
    if (statusCode >= 200 && statusCode < 300) latencies.record(Math.max(1, Math.round(ms * 1000)));
  });
  const result = await instance;
  return {
    load: loadFigures(result, latencies, failedResults),
    accepted,
    repeatedIds,
  };
}

/**
 * One call by hand before any load, its answer parsed in full: a benchmark of a server that quickly
 * answers with an error would measure nothing. Returns the notification's id and the answer's size.
 */
export async function checkAccept(target: AcceptTarget, key: string): Promise<{ id: string; bytes: number }> {
  const response = await fetch(target.url, {
    method: 'POST',
    headers: target.headers,
    body: bodyTemplate(target.protocol)(key),
  });
  const answer = await response.text();
  const fail = (why: string) => new Error(`send_notification: ${why}: ${answer.slice(0, 1000)}`);
  if (!response.ok) throw fail(`HTTP ${response.status}`);
  const result = toolResultOf(response.headers.get('content-type') ?? '', answer);
  const { id, status } = (result.structuredContent ?? {}) as { id?: string; status?: string };
  if (!id || status !== 'queued') throw fail('no queued notification in the answer');
  if (!looksLikeToolSuccess(answer) || NOTIFICATION_ID.exec(answer)?.[1] !== id) {
    throw fail('the per-response check does not find the id of a good answer');
  }
  return { id, bytes: Buffer.byteLength(answer) };
}
