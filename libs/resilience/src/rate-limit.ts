import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { LeasedBudget, leaseSizeFor } from './leased-budget.js';

export type RateLimitFailMode = 'open' | 'closed';

export interface RateLimitDecision {
  allowed: boolean;
  /** How long until a point is free again; 0 when allowed. */
  retryAfterMs: number;
}

export interface RateLimiter {
  consume(key: string): Promise<RateLimitDecision>;
}

/** Thrown only in fail-closed mode when the shared store cannot be reached. */
export class RateLimitStoreUnavailableError extends Error {
  override name = 'RateLimitStoreUnavailableError';
}

export interface RateLimiterOptions {
  pointsPerMinute: number;
  keyPrefix: string;
  /** Shared store: every replica spends from one budget. Without it the budget is per process. */
  redis?: Redis;
  failMode: RateLimitFailMode;
  /** Points a replica leases from Redis at once (leased-budget.ts); by default 1 % of the budget, 1 to 50. */
  leaseSize?: number;
}

/**
 * A fixed one-minute budget per key, kept in Redis so replicas share it and spent in leases, so most calls do not
 * wait for Redis (leased-budget.ts: never more than the budget per window). When Redis is down, `open` keeps
 * limiting with a per-replica in-memory budget; `closed` refuses the request.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const base = { points: options.pointsPerMinute, duration: 60, keyPrefix: options.keyPrefix };
  const limiter = options.redis
    ? new RateLimiterRedis({
        ...base,
        storeClient: options.redis,
        // Without this the limiter waits for commands that the offline client rejects anyway.
        rejectIfRedisNotReady: true,
        ...(options.failMode === 'open' ? { insuranceLimiter: new RateLimiterMemory(base) } : {}),
      })
    : new RateLimiterMemory(base);

  // An in-process budget has no round trip to save.
  const leaseSize = options.redis ? (options.leaseSize ?? leaseSizeFor(options.pointsPerMinute)) : 1;
  const budget = new LeasedBudget(limiter, options.pointsPerMinute, leaseSize);
  return {
    async consume(key) {
      // Closed means no call without Redis, not even one from a lease taken before it went away.
      if (options.failMode === 'closed' && options.redis && options.redis.status !== 'ready') {
        throw new RateLimitStoreUnavailableError('the shared rate-limit store is unavailable');
      }
      try {
        return await budget.consume(key);
      } catch (error) {
        throw new RateLimitStoreUnavailableError('the shared rate-limit store is unavailable', { cause: error });
      }
    },
  };
}
