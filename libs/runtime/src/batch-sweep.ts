import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@flotilla/telemetry';

/** Rows one statement deletes at most, so it holds its locks and I/O for a moment only. */
export const SWEEP_BATCH_SIZE = 500;
/** Rest between two statements of a run, so clearing a large backlog never crowds out the tools. */
const SWEEP_PAUSE_MS = 100;

export interface BatchSweepOptions {
  /** Names the sweep in its log lines, e.g. `retention sweep`. */
  name: string;
  /** Deletes at most `limit` rows in one statement and returns how many it deleted. */
  deleteBatch(limit: number): Promise<number>;
  metrics: {
    /** Rows this replica deleted. */
    deleted: { inc(value: number): void };
    /** When this replica last finished a run with nothing left to delete, as a Unix time. */
    lastSuccess: { set(value: number): void };
  };
  logger: Logger;
  intervalMs: number;
  /** Tests shrink these; production uses the defaults above. */
  batchSize?: number;
  pauseMs?: number;
  /** Advice for the failure log line, for errors an operator can fix (a missing grant, say). */
  hintFor?(error: { code?: string }): string | undefined;
}

/**
 * Deletes what has outlived its time, every `intervalMs`, in batches until a short one says nothing is left:
 * the one way the servers bound their tables (finished notifications, expired idempotency keys). Every replica
 * sweeps; `deleteBatch` is expected to take its rows with SKIP LOCKED, so sweeps that overlap delete disjoint rows
 * and each counts only its own, which is simpler than electing one sweeper. One replica never overlaps itself:
 * the next run is scheduled when the last one ends. A failed run is logged and tried again next interval.
 */
export class BatchSweep {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly options: BatchSweepOptions) {}

  start(): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .catch((error: { code?: string; message?: string }) => {
          const hint = this.options.hintFor?.(error);
          this.options.logger.warn(
            { err: { code: error.code, message: error.message }, ...(hint ? { hint } : {}) },
            `${this.options.name} failed`,
          );
        })
        .finally(() => this.start());
    }, this.options.intervalMs);
    // A pending sweep never keeps the process alive.
    this.timer.unref();
  }

  /** One run: batches until a short one says nothing is left. Returns how many rows went. */
  async runOnce(): Promise<number> {
    const { deleteBatch, metrics, logger, name } = this.options;
    const batchSize = this.options.batchSize ?? SWEEP_BATCH_SIZE;
    const started = performance.now();
    const { signal } = this.stopping;
    let total = 0;
    while (!signal.aborted) {
      const deleted = await deleteBatch(batchSize);
      total += deleted;
      metrics.deleted.inc(deleted);
      if (deleted < batchSize) {
        metrics.lastSuccess.set(Date.now() / 1000);
        break;
      }
      await sleep(this.options.pauseMs ?? SWEEP_PAUSE_MS, undefined, { signal }).catch(() => undefined);
    }
    if (total > 0) logger.info({ deleted: total, durationMs: Math.round(performance.now() - started) }, name);
    return total;
  }

  /** Stops scheduling, ends a running sweep after its current statement, and waits for it. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    await this.running;
  }
}
