import type { Principal } from '@flotilla/auth';
import type { Redis } from '@flotilla/resilience';

/**
 * Reuses catalog answers for a short time so list_tables and describe_table do not read pg_catalog
 * on every call. Keys name the database role and the tenant, because what a caller may see
 * depends on both. With Redis every replica shares one cache; without it each keeps its own.
 * The cache is an optimisation only: when Redis fails, the catalog is read directly.
 */
export class SchemaCache {
  private readonly local = new Map<string, { expires: number; value: unknown }>();

  constructor(
    private readonly options: {
      ttlSeconds: number;
      /** The database role the server logs in as. */
      role: string;
      redis: Redis | undefined;
      /** Bumped when the cached shapes change, so replicas of two versions never read each other's entries. */
      version?: string;
    },
  ) {}

  async get<T>(principal: Principal, what: string, load: () => Promise<T>): Promise<T> {
    const { ttlSeconds, redis } = this.options;
    if (ttlSeconds === 0) return load();
    const key = this.keyFor(principal, what);
    if (!redis) return this.getLocal(key, load);
    const cached = await redis.get(key).catch(() => null);
    if (cached !== null) return JSON.parse(cached) as T;
    const value = await load();
    await redis.set(key, JSON.stringify(value), 'EX', ttlSeconds).catch(() => undefined);
    return value;
  }

  private async getLocal<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.local.get(key);
    if (hit && hit.expires > now) return hit.value as T;
    const value = await load();
    // Bounded: expired entries go first, so a stream of distinct tables cannot grow the map without limit.
    if (this.local.size >= 1000) {
      for (const [staleKey, entry] of this.local) if (entry.expires <= now) this.local.delete(staleKey);
      if (this.local.size >= 1000) this.local.clear();
    }
    this.local.set(key, { expires: now + this.options.ttlSeconds * 1000, value });
    return value;
  }

  private keyFor(principal: Principal, what: string): string {
    const parts = [this.options.version ?? 'v1', this.options.role, principal.tenant, what];
    return `flotilla:database:schema:${parts.map(encodeURIComponent).join(':')}`;
  }
}
