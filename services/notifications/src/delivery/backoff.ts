/** The longest wait between attempts, unless NOTIFY_RETRY_BASE_MS itself is longer. */
const MAX_BACKOFF_MS = 5 * 60_000;
/** A receiver's Retry-After is honoured up to an hour; a longer one is treated as an hour. */
const MAX_RETRY_AFTER_MS = 60 * 60_000;

/**
 * The wait before the next attempt, after `attempts` have failed: exponential from `baseMs` with
 * equal jitter (half fixed, half random), so replicas retrying one receiver spread out instead of
 * arriving together, and never sooner than the receiver's Retry-After.
 */
export function retryDelayMs(attempts: number, baseMs: number, retryAfterMs?: number, random = Math.random): number {
  const exponential = Math.min(Math.max(baseMs, MAX_BACKOFF_MS), baseMs * 2 ** Math.max(0, attempts - 1));
  const jittered = exponential / 2 + random() * (exponential / 2);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS)));
}
