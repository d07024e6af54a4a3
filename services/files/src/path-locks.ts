import { randomUUID } from 'node:crypto';
import type { Redis } from '@flotilla/resilience';
import { ToolError } from '@flotilla/runtime';

/** A held lock. `stillHeld` is checked right before a change becomes visible, in case the lease ran out. */
export interface HeldLock {
  stillHeld(): Promise<boolean>;
  release(): Promise<void>;
}

interface LockStore {
  take(key: string, token: string, ttlMs: number): Promise<boolean>;
  holds(key: string, token: string): Promise<boolean>;
  give(key: string, token: string): Promise<void>;
}

// Deletes the key only if this holder still owns it, so a lease that expired and was taken over is left alone.
const RELEASE_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

class RedisLockStore implements LockStore {
  constructor(private readonly redis: Redis) {}
  async take(key: string, token: string, ttlMs: number) {
    return (await this.redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK';
  }
  async holds(key: string, token: string) {
    return (await this.redis.get(key)) === token;
  }
  async give(key: string, token: string) {
    await this.redis.eval(RELEASE_IF_OWNER, 1, key, token);
  }
}

/** Without REDIS_URL (development, one replica) the same leases live in this process. */
class MemoryLockStore implements LockStore {
  private readonly leases = new Map<string, { token: string; expires: number }>();
  async take(key: string, token: string, ttlMs: number) {
    const lease = this.leases.get(key);
    if (lease && lease.expires > Date.now()) return false;
    this.leases.set(key, { token, expires: Date.now() + ttlMs });
    return true;
  }
  async holds(key: string, token: string) {
    const lease = this.leases.get(key);
    return lease?.token === token && lease.expires > Date.now();
  }
  async give(key: string, token: string) {
    if (this.leases.get(key)?.token === token) this.leases.delete(key);
  }
}

/**
 * Short leases on a tenant's path, shared by every replica through Redis, so that read-modify-write
 * changes (edit_file, conditional writes, moves) never interleave. A lease outlives the longest
 * call (TOOL_TIMEOUT_MS) so it cannot lapse under a holder that is still working; a holder that
 * dies leaves a lease that expires by itself.
 */
export class PathLocks {
  private readonly store: LockStore;

  constructor(
    redis: Redis | undefined,
    private readonly options: { leaseMs: number; waitMs: number },
  ) {
    this.store = redis ? new RedisLockStore(redis) : new MemoryLockStore();
  }

  /** Waits up to FILES_LOCK_WAIT_MS for the lease; `undefined` when another holder kept it that long. */
  async acquire(key: string, signal: AbortSignal): Promise<HeldLock | undefined> {
    const token = randomUUID();
    const deadline = Date.now() + this.options.waitMs;
    for (let attempt = 0; ; attempt += 1) {
      if (await this.store.take(key, token, this.options.leaseMs).catch(storeUnavailable)) {
        return {
          stillHeld: () => this.store.holds(key, token).catch(storeUnavailable),
          release: () => this.store.give(key, token),
        };
      }
      if (Date.now() >= deadline) return undefined;
      signal.throwIfAborted();
      // Jittered, growing pauses: waiters on one hot file spread out instead of polling in lockstep.
      await sleep(Math.min(100, 5 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random()));
    }
  }
}

/** Redis down: no change can be made safely across replicas, so it is refused as retryable, never as INTERNAL. */
function storeUnavailable(error: unknown): never {
  throw new ToolError('UNAVAILABLE', 'Changes are paused: the shared lock store is unreachable. Retry shortly.', {
    retryAfterMs: 1000,
    cause: error,
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
