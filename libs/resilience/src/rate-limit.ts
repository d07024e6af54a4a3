import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

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
}

/**
 * A fixed one-minute budget per key, kept in Redis so replicas share it. When Redis is down,
 * `open` keeps limiting with a per-replica in-memory budget; `closed` refuses the request.
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

  return {
    async consume(key) {
      try {
        await limiter.consume(key, 1);
        return { allowed: true, retryAfterMs: 0 };
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          return { allowed: false, retryAfterMs: Math.max(1, Math.ceil(rejection.msBeforeNext)) };
        }
        throw new RateLimitStoreUnavailableError('the shared rate-limit store is unavailable', { cause: rejection });
      }
    },
  };
}
