import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@flotilla/telemetry';
import type { RetentionMetrics } from '../metrics.js';

/** Rows one statement deletes at most, so it holds its locks and I/O for a moment only. */
export const RETENTION_BATCH_SIZE = 500;
/** Rest between two statements of a run, so clearing a large backlog never crowds out deliveries. */
const RETENTION_PAUSE_MS = 100;

export interface RetentionSchedule {
  intervalMs: number;
  /** Tests shrink these; production uses the defaults above. */
  batchSize?: number;
  pauseMs?: number;
}

/**
 * Every `intervalMs`, deletes finished notifications past their retention in batches until none is
 * left. Every worker replica sweeps; `deleteBatch` takes its rows with SKIP LOCKED, so sweeps that
 * overlap delete disjoint rows and each counts only its own. That is simpler than electing one
 * sweeper (an advisory lock held across batches, or a pg-boss schedule, which this server's runtime
 * role does not run) and costs an empty index scan per replica and interval. One replica never
 * overlaps itself: the next run is scheduled when the last one ends.
 */
export class RetentionSweep {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly deleteBatch: (limit: number) => Promise<number>,
    private readonly metrics: RetentionMetrics,
    private readonly logger: Logger,
    private readonly schedule: RetentionSchedule,
  ) {}

  start(): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .catch((error: { code?: string; message?: string }) =>
          this.logger.warn({ err: { code: error.code, message: error.message } }, 'retention sweep failed'),
        )
        .finally(() => this.start());
    }, this.schedule.intervalMs);
    // A pending sweep never keeps the process alive.
    this.timer.unref();
  }

  /** One run: batches until a short one says nothing is left. Returns how many notifications went. */
  async runOnce(): Promise<number> {
    const batchSize = this.schedule.batchSize ?? RETENTION_BATCH_SIZE;
    const started = performance.now();
    const { signal } = this.stopping;
    let total = 0;
    while (!signal.aborted) {
      const deleted = await this.deleteBatch(batchSize);
      total += deleted;
      this.metrics.deleted.inc(deleted);
      if (deleted < batchSize) {
        this.metrics.lastSuccess.set(Date.now() / 1000);
        break;
      }
      await sleep(this.schedule.pauseMs ?? RETENTION_PAUSE_MS, undefined, { signal }).catch(() => undefined);
    }
    if (total > 0) {
      this.logger.info({ deleted: total, durationMs: Math.round(performance.now() - started) }, 'retention sweep');
    }
    return total;
  }

  /** Stops scheduling, ends a running sweep after its current statement, and waits for it. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    await this.running;
  }
}
