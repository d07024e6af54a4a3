import { createHash } from 'node:crypto';
import type { Redis } from '@flotilla/resilience';

/** One change in flight: the bytes it reserved and the time window its reservation is counted in. */
export interface Reservation {
  readonly tenant: string;
  readonly growth: number;
  readonly window: number;
}

export type ReserveResult =
  | { kind: 'reserved'; reservation: Reservation }
  /** `used` counts committed bytes and every reservation in flight. */
  | { kind: 'over'; used: number }
  /** The tenant has no counter yet: a walk must count its tree first. */
  | { kind: 'uncounted' };

export type ApplyOutcome = 'initialized' | 'unchanged' | 'corrected' | 'busy';

/**
 * Per-tenant usage shared by every replica: committed bytes, reservations in flight, a count of
 * changes in flight and a generation that every change bumps. A reconcile walk is applied only
 * when the generation it started from is unchanged and no change is in flight, so a change that
 * overlapped the walk (and may or may not be in what it counted) is never mistaken for drift.
 */
export interface UsageStore {
  /**
   * Registers a change and reserves `growth` bytes (≥ 0), atomically with the check that committed bytes,
   * reservations in flight and `growth` fit in `quota`. `unchecked` registers without the check (the
   * caller checks by walking, because the tenant is still uncounted).
   */
  reserve(tenant: string, growth: number, quota: number, unchecked: boolean): Promise<ReserveResult>;
  /** Ends a change: its reservation is released and `delta` (the bytes it really changed) committed. */
  settle(reservation: Reservation, delta: number): Promise<void>;
  generation(tenant: string): Promise<string>;
  /** Sets the counter to `walked` if nothing changed since `generation` was read and nothing is in flight. */
  apply(tenant: string, generation: string, walked: number): Promise<{ outcome: ApplyOutcome; drift: number }>;
  /** Wins the right to reconcile `tenant` for `ttlMs`, so replicas take turns instead of all walking. */
  claim(tenant: string, ttlMs: number): Promise<boolean>;
}

export type UsageKeyPart = 'committed' | 'generation' | 'claim' | `reserved:${number}` | `inflight:${number}`;

/**
 * The Redis key of one part of a tenant's usage. Tenants are hashed (keys stay short and never carry
 * a tenant's name); the braces keep a tenant's keys in one cluster slot, as its scripts need.
 */
export function usageKey(tenant: string, part: UsageKeyPart): string {
  return `flotilla:files:usage:{${createHash('sha256').update(tenant).digest('hex')}}:${part}`;
}

// Only GET, SET, INCRBY and PEXPIRE: what k8s/redis/users.acl grants the files server, inside scripts too.
const RESERVE = `
local growth = tonumber(ARGV[1])
if ARGV[3] ~= '1' and growth > 0 then
  local committed = redis.call('get', KEYS[1])
  if not committed then return {'uncounted', 0} end
  local used = tonumber(committed)
  for i = 4, 6 do used = used + tonumber(redis.call('get', KEYS[i]) or '0') end
  if used + growth > tonumber(ARGV[2]) then return {'over', used} end
end
if growth > 0 then
  redis.call('incrby', KEYS[4], ARGV[1])
  redis.call('pexpire', KEYS[4], ARGV[4])
end
redis.call('incrby', KEYS[3], 1)
redis.call('pexpire', KEYS[3], ARGV[4])
redis.call('incrby', KEYS[2], 1)
return {'reserved', 0}`;

// A key that already expired is left alone: recreating it would leave a negative count without a TTL.
const SETTLE = `
if ARGV[1] ~= '0' and redis.call('get', KEYS[4]) then redis.call('incrby', KEYS[4], ARGV[1]) end
if redis.call('get', KEYS[3]) then redis.call('incrby', KEYS[3], -1) end
if ARGV[2] ~= '0' and redis.call('get', KEYS[1]) then redis.call('incrby', KEYS[1], ARGV[2]) end
redis.call('incrby', KEYS[2], 1)
return 1`;

const APPLY = `
if (redis.call('get', KEYS[2]) or '0') ~= ARGV[1] then return {'busy', 0} end
for i = 3, 5 do
  if tonumber(redis.call('get', KEYS[i]) or '0') > 0 then return {'busy', 0} end
end
local before = redis.call('get', KEYS[1])
redis.call('set', KEYS[1], ARGV[2])
if not before then return {'initialized', 0} end
local drift = tonumber(ARGV[2]) - tonumber(before)
if drift == 0 then return {'unchanged', 0} end
return {'corrected', drift}`;

type ScriptReply = [string, number];
type ScriptRunner = (...keysThenArgs: (string | number)[]) => Promise<unknown>;

/**
 * Reservations and in-flight counts live in keys per time window of `windowMs` (twice the longest a
 * change can hold its lease), and a check sums the windows before, at and after now: a reservation is
 * counted for its change's whole life, even across a window boundary or a clock skew below
 * `windowMs / 2`, and one leaked by a replica that died mid-change stops counting within two windows
 * (the key itself expires later), with no scan of keys.
 */
export class RedisUsageStore implements UsageStore {
  private readonly scripts: Record<'reserve' | 'settle' | 'apply', ScriptRunner>;

  constructor(
    private readonly redis: Redis,
    private readonly windowMs: number,
  ) {
    // defineCommand runs each script by EVALSHA, sending its text (EVAL) only when Redis lacks it.
    redis.defineCommand('flotillaFilesReserve', { numberOfKeys: 6, lua: RESERVE });
    redis.defineCommand('flotillaFilesSettle', { numberOfKeys: 4, lua: SETTLE });
    redis.defineCommand('flotillaFilesApply', { numberOfKeys: 5, lua: APPLY });
    const commands = redis as unknown as Record<string, ScriptRunner>;
    this.scripts = {
      reserve: (...args) => (commands.flotillaFilesReserve as ScriptRunner).apply(redis, args),
      settle: (...args) => (commands.flotillaFilesSettle as ScriptRunner).apply(redis, args),
      apply: (...args) => (commands.flotillaFilesApply as ScriptRunner).apply(redis, args),
    };
  }

  async reserve(tenant: string, growth: number, quota: number, unchecked: boolean): Promise<ReserveResult> {
    const window = Math.floor(Date.now() / this.windowMs);
    const [kind, used] = (await this.scripts.reserve(
      usageKey(tenant, 'committed'),
      usageKey(tenant, 'generation'),
      usageKey(tenant, `inflight:${window}`),
      usageKey(tenant, `reserved:${window}`),
      usageKey(tenant, `reserved:${window - 1}`),
      usageKey(tenant, `reserved:${window + 1}`),
      growth,
      quota,
      unchecked ? '1' : '0',
      3 * this.windowMs,
    )) as ScriptReply;
    if (kind === 'over') return { kind, used };
    if (kind === 'uncounted') return { kind };
    return { kind: 'reserved', reservation: { tenant, growth, window } };
  }

  async settle(reservation: Reservation, delta: number): Promise<void> {
    const { tenant, window } = reservation;
    await this.scripts.settle(
      usageKey(tenant, 'committed'),
      usageKey(tenant, 'generation'),
      usageKey(tenant, `inflight:${window}`),
      usageKey(tenant, `reserved:${window}`),
      String(-reservation.growth),
      String(delta),
    );
  }

  async generation(tenant: string): Promise<string> {
    return (await this.redis.get(usageKey(tenant, 'generation'))) ?? '0';
  }

  async apply(tenant: string, generation: string, walked: number) {
    const window = Math.floor(Date.now() / this.windowMs);
    const [outcome, drift] = (await this.scripts.apply(
      usageKey(tenant, 'committed'),
      usageKey(tenant, 'generation'),
      usageKey(tenant, `inflight:${window - 1}`),
      usageKey(tenant, `inflight:${window}`),
      usageKey(tenant, `inflight:${window + 1}`),
      generation,
      walked,
    )) as [ApplyOutcome, number];
    return { outcome, drift };
  }

  async claim(tenant: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(usageKey(tenant, 'claim'), '1', 'PX', ttlMs, 'NX')) === 'OK';
  }
}

interface MemoryUsage {
  committed: number | undefined;
  generation: number;
  inflight: number;
  reserved: number;
  claimedUntil: number;
}

/** Without REDIS_URL (development, one replica) the same bookkeeping lives in this process. */
export class MemoryUsageStore implements UsageStore {
  private readonly tenants = new Map<string, MemoryUsage>();

  async reserve(tenant: string, growth: number, quota: number, unchecked: boolean): Promise<ReserveResult> {
    const usage = this.of(tenant);
    if (!unchecked && growth > 0) {
      if (usage.committed === undefined) return { kind: 'uncounted' };
      const used = usage.committed + usage.reserved;
      if (used + growth > quota) return { kind: 'over', used };
    }
    usage.reserved += growth;
    usage.inflight += 1;
    usage.generation += 1;
    return { kind: 'reserved', reservation: { tenant, growth, window: 0 } };
  }

  async settle(reservation: Reservation, delta: number): Promise<void> {
    const usage = this.of(reservation.tenant);
    usage.reserved -= reservation.growth;
    usage.inflight -= 1;
    if (usage.committed !== undefined) usage.committed += delta;
    usage.generation += 1;
  }

  async generation(tenant: string): Promise<string> {
    return String(this.of(tenant).generation);
  }

  async apply(tenant: string, generation: string, walked: number) {
    const usage = this.of(tenant);
    if (String(usage.generation) !== generation || usage.inflight > 0) return { outcome: 'busy' as const, drift: 0 };
    const before = usage.committed;
    usage.committed = walked;
    if (before === undefined) return { outcome: 'initialized' as const, drift: 0 };
    const drift = walked - before;
    return { outcome: drift === 0 ? ('unchanged' as const) : ('corrected' as const), drift };
  }

  async claim(tenant: string, ttlMs: number): Promise<boolean> {
    const usage = this.of(tenant);
    if (usage.claimedUntil > Date.now()) return false;
    usage.claimedUntil = Date.now() + ttlMs;
    return true;
  }

  private of(tenant: string): MemoryUsage {
    let usage = this.tenants.get(tenant);
    if (!usage) {
      usage = { committed: undefined, generation: 0, inflight: 0, reserved: 0, claimedUntil: 0 };
      this.tenants.set(tenant, usage);
    }
    return usage;
  }
}
