import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimitDecision } from './rate-limit.js';

/**
 * Points a replica takes from the shared budget at once: 1 % of it, between 1 and 50. A budget of 600 a minute
 * (the default) goes to Redis every 6th call instead of every call.
 */
export function leaseSizeFor(pointsPerMinute: number): number {
  return Math.min(50, Math.max(1, Math.floor(pointsPerMinute / 100)));
}

interface Lease {
  tokens: number;
  /** performance.now() after which the tokens belong to a finished window and must not be spent. */
  expiresAt: number;
  /**
   * Until when the window is known to be spent: no replica can be granted a point before it ends, so refusals are
   * answered here instead of asking Redis once per refused call.
   */
  refusedUntil: number;
  /** A lease being taken; concurrent calls of the same key wait for it instead of taking one each. */
  pending?: Promise<RateLimitDecision | undefined>;
}

/** Keys without tokens left are forgotten at the next sweep, so a replica's memory does not grow with its callers. */
const SWEEP_EVERY = 10_000;

/**
 * Spends a shared fixed-window budget in leases: a replica takes `leaseSize` points from the store in one
 * round trip and admits calls from them locally.
 *
 * The bound: the fleet never admits more than the budget in a window. A lease is counted in the store before any of
 * its points is spent; a lease that crosses the budget keeps only the points left under it (the store's counter
 * says how many); and a lease expires no later than the window it was taken in (its expiry is measured from before
 * the request, so it ends before the store's window does). What leasing costs is the other way round: points leased
 * but not spent when a window ends are lost, at most `leaseSize - 1` per replica and key, so the fleet may refuse
 * up to replicas × (leaseSize - 1) calls of a window early.
 */
export class LeasedBudget {
  readonly #leases = new Map<string, Lease>();
  #consumes = 0;

  constructor(
    private readonly store: RateLimiterAbstract,
    private readonly points: number,
    private readonly leaseSize: number,
  ) {}

  async consume(key: string): Promise<RateLimitDecision> {
    if (++this.#consumes % SWEEP_EVERY === 0) this.#sweep();
    for (;;) {
      let lease = this.#leases.get(key);
      if (!lease) {
        lease = { tokens: 0, expiresAt: 0, refusedUntil: 0 };
        this.#leases.set(key, lease);
      }
      const now = performance.now();
      if (lease.tokens > 0 && now < lease.expiresAt) {
        lease.tokens -= 1;
        return { allowed: true, retryAfterMs: 0 };
      }
      if (now < lease.refusedUntil) return { allowed: false, retryAfterMs: Math.ceil(lease.refusedUntil - now) };
      const current = lease;
      current.pending ??= this.#take(key, current).finally(() => {
        current.pending = undefined;
      });
      const refused = await current.pending;
      if (refused) return refused;
    }
  }

  /** Takes a lease into `lease`; answers the refusal when the budget has no point left. Store errors propagate. */
  async #take(key: string, lease: Lease): Promise<RateLimitDecision | undefined> {
    const asked = performance.now();
    try {
      const granted = await this.store.consume(key, this.leaseSize);
      lease.tokens = this.leaseSize;
      lease.expiresAt = asked + granted.msBeforeNext;
      return undefined;
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      // The store added the whole lease and refused it because the total went past the budget; whatever was still
      // under the budget before this lease is this replica's to spend.
      const left = this.points - (rejection.consumedPoints - this.leaseSize);
      if (left > 0) {
        lease.tokens = Math.min(left, this.leaseSize);
        lease.expiresAt = asked + rejection.msBeforeNext;
        return undefined;
      }
      // Measured from the answer, not the request: it then ends a little after the store's window, never before.
      lease.refusedUntil = performance.now() + rejection.msBeforeNext;
      return { allowed: false, retryAfterMs: Math.max(1, Math.ceil(rejection.msBeforeNext)) };
    }
  }

  #sweep(): void {
    const now = performance.now();
    for (const [key, lease] of this.#leases) {
      const spent = lease.tokens === 0 || now >= lease.expiresAt;
      if (!lease.pending && spent && now >= lease.refusedUntil) this.#leases.delete(key);
    }
  }
}
