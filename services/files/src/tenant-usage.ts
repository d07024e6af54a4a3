import { ToolError } from '@flotilla/runtime';
import type { Logger } from '@flotilla/telemetry';
import type { FilesMetrics } from './metrics.js';
import { PathRefusal } from './paths.js';
import type { Reservation, UsageStore } from './usage-store.js';

/** Sums a tenant's files (tree-walk.ts' `bytesUsed` on its root): the truth the counter is held to. */
export type TreeWalk = (signal: AbortSignal) => Promise<number>;

/** A change that has passed the quota: settle it with the bytes it really changed, once, success or not. */
export interface UsageChange {
  settle(delta: number): Promise<void>;
}

export interface TenantUsageOptions {
  quotaBytes: number;
  reconcileMs: number;
  /** RATE_LIMIT_FAIL_MODE: what a growing write does when the shared counter cannot be reached. */
  failMode: 'open' | 'closed';
}

const UNTRACKED: UsageChange = { settle: async () => undefined };

/**
 * The tenant quota, O(1) per write: a growing change reserves its growth in the usage store before a
 * byte is written and settles to the real delta after it is committed on disk. Reconcile walks of
 * each tenant this replica serves (on first use, then every FILES_USAGE_RECONCILE_MS) correct drift:
 * a replica that died between writing and settling, or files changed behind the server's back.
 */
export class TenantUsage {
  private readonly walks = new Map<string, TreeWalk>();
  private readonly reconciling = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;

  constructor(
    private readonly store: UsageStore,
    private readonly options: TenantUsageOptions,
    private readonly metrics: FilesMetrics,
    private readonly log: Logger,
  ) {}

  /** The first time this replica serves `tenant`: reconcile it now, and with every periodic round. */
  track(tenant: string, walk: TreeWalk): void {
    if (this.walks.has(tenant)) return;
    this.walks.set(tenant, walk);
    void this.reconcile(tenant, { claimed: true });
    this.timer ??= setInterval(() => {
      this.round ??= this.reconcileAll().finally(() => {
        this.round = undefined;
      });
    }, this.options.reconcileMs).unref();
  }

  /**
   * Registers a change of `tenant` expected to change its bytes by `delta`, reserving the growth;
   * refuses it (quota) when committed bytes, reservations in flight and the growth exceed the quota.
   */
  async reserve(tenant: string, delta: number, signal: AbortSignal): Promise<UsageChange> {
    const growth = Math.max(0, delta);
    let result: Awaited<ReturnType<TenantUsage['reserveCounted']>>;
    try {
      result = await this.reserveCounted(tenant, growth);
    } catch (error) {
      return this.withoutStore(tenant, growth, signal, error);
    }
    if (result.kind !== 'unchecked' && growth > 0) this.metrics.quotaChecks.inc({ method: 'counter' });
    if (result.kind === 'over') throw quotaRefusal(growth, result.used, this.options.quotaBytes);
    const change = this.changeOf(result.reservation);
    if (result.kind === 'unchecked') {
      try {
        await this.checkByWalk(tenant, growth, signal);
      } catch (error) {
        await change.settle(0);
        throw error;
      }
    }
    return change;
  }

  /** Stops the periodic rounds and waits for walks in progress to notice. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await Promise.all([this.round, ...this.reconciling.values()]);
  }

  private async reserveCounted(tenant: string, growth: number) {
    const quota = this.options.quotaBytes;
    const first = await this.store.reserve(tenant, growth, quota, false);
    if (first.kind !== 'uncounted') return first;
    await this.reconcile(tenant, { claimed: false });
    const second = await this.store.reserve(tenant, growth, quota, false);
    if (second.kind !== 'uncounted') return second;
    // Changes overlapped the first count, so it was not applied: this change is registered (the next
    // count sees it in flight) and checked by a walk, as are others until a count applies.
    const unchecked = await this.store.reserve(tenant, growth, quota, true);
    if (unchecked.kind !== 'reserved') throw new Error(`an unchecked reservation answered ${unchecked.kind}`);
    return { kind: 'unchecked' as const, reservation: unchecked.reservation };
  }

  private changeOf(reservation: Reservation): UsageChange {
    let settled = false;
    return {
      settle: async (delta) => {
        if (settled) return;
        settled = true;
        // The change is on disk whatever happens here; a settle that fails leaves drift for reconcile.
        await this.store.settle(reservation, delta).catch((error: unknown) => {
          this.log.warn(
            { err: error, tenant: reservation.tenant },
            'settling tenant usage failed; reconcile corrects it',
          );
        });
      },
    };
  }

  /** The shared counter is unreachable: deletes and shrinks go on; growth follows RATE_LIMIT_FAIL_MODE. */
  private async withoutStore(tenant: string, growth: number, signal: AbortSignal, error: unknown) {
    if (growth === 0) return UNTRACKED;
    this.log.warn({ err: error, tenant, failMode: this.options.failMode }, 'tenant usage counter unavailable');
    if (this.options.failMode === 'closed') {
      throw new ToolError('UNAVAILABLE', 'The workspace quota cannot be checked right now; retry shortly.', {
        retryAfterMs: 1000,
        cause: error,
      });
    }
    await this.checkByWalk(tenant, growth, signal);
    return UNTRACKED;
  }

  private async checkByWalk(tenant: string, growth: number, signal: AbortSignal): Promise<void> {
    this.metrics.quotaChecks.inc({ method: 'walk' });
    const used = await this.walkOf(tenant)(signal);
    if (used + growth > this.options.quotaBytes) throw quotaRefusal(growth, used, this.options.quotaBytes);
  }

  private async reconcileAll(): Promise<void> {
    for (const tenant of this.walks.keys()) {
      if (this.stopping.signal.aborted) return;
      await this.reconcile(tenant, { claimed: true });
    }
  }

  /**
   * One walk per tenant at a time in this replica. `claimed` rounds walk only if this replica wins the
   * tenant's claim for the interval, so N replicas walk a tenant once per interval between them; a
   * write that finds the tenant uncounted walks at once.
   */
  private reconcile(tenant: string, mode: { claimed: boolean }): Promise<void> {
    const running = this.reconciling.get(tenant);
    if (running) return running;
    const run = this.walkAndApply(tenant, mode).finally(() => this.reconciling.delete(tenant));
    this.reconciling.set(tenant, run);
    return run;
  }

  private async walkAndApply(tenant: string, mode: { claimed: boolean }): Promise<void> {
    try {
      if (mode.claimed && !(await this.store.claim(tenant, this.options.reconcileMs))) return;
      const generation = await this.store.generation(tenant);
      const walked = await this.walkOf(tenant)(this.stopping.signal);
      const { outcome, drift } = await this.store.apply(tenant, generation, walked);
      this.metrics.usageReconciles.inc({ outcome });
      if (drift !== 0) {
        this.metrics.usageDriftBytes.inc(Math.abs(drift));
        this.log.warn({ tenant, driftBytes: drift }, 'tenant usage counter corrected from a walk of its tree');
      }
    } catch (error) {
      if (this.stopping.signal.aborted) return;
      this.metrics.usageReconciles.inc({ outcome: 'failed' });
      this.log.warn({ err: error, tenant }, 'reconciling tenant usage failed; the next round retries');
    }
  }

  private walkOf(tenant: string): TreeWalk {
    const walk = this.walks.get(tenant);
    if (!walk) throw new Error('tenant usage asked about a tenant it does not track');
    return walk;
  }
}

function quotaRefusal(growth: number, used: number, quota: number): PathRefusal {
  return new PathRefusal(
    'quota',
    `This change needs ${growth} more bytes but the workspace uses ${used} of its ${quota}-byte quota ` +
      '(counting changes in progress). Delete files you no longer need, then retry.',
  );
}
