import { DeliveryError } from './channel.js';

export interface HttpPost {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * POSTs one JSON delivery. 2xx is success; 429, 5xx, timeouts and network errors are retryable
 * (with the receiver's Retry-After); every other answer is final. Redirects are never followed: a
 * 3xx could send the payload, and its signature, somewhere the operator never configured.
 */
export async function postJson(post: HttpPost): Promise<void> {
  const deadline = AbortSignal.timeout(post.timeoutMs);
  let status: number;
  let statusText: string;
  let retryAfter: string | null;
  try {
    const response = await fetch(post.url, {
      method: 'POST',
      body: post.body,
      headers: { 'content-type': 'application/json', ...post.headers },
      redirect: 'manual',
      signal: AbortSignal.any([post.signal, deadline]),
    });
    ({ status, statusText } = response);
    retryAfter = response.headers.get('retry-after');
    // The answer is the status. The body is never read: its size is up to the receiver.
    await response.body?.cancel().catch(() => undefined);
  } catch (error) {
    if (deadline.aborted) throw new DeliveryError(`no answer within ${post.timeoutMs} ms`, true);
    if (post.signal.aborted) throw new DeliveryError('the delivery was interrupted before the receiver answered', true);
    throw new DeliveryError(`could not reach the receiver (${networkErrorCode(error)})`, true);
  }
  if (status >= 200 && status < 300) return;
  const answer = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  if (status === 429 || status >= 500) {
    throw new DeliveryError(`the receiver answered ${answer}`, true, parseRetryAfter(retryAfter));
  }
  if (status >= 300 && status < 400) {
    throw new DeliveryError(`the receiver answered ${answer}, a redirect, which is never followed`, false);
  }
  throw new DeliveryError(`the receiver refused the notification: ${answer}`, false);
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in milliseconds from `now`. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** fetch hides the cause's code under `cause`; the cause's message names the host, so only the code is kept. */
function networkErrorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = cause?.code ?? (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? code : 'network error';
}
