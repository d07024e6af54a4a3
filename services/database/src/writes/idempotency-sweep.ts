import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@flotilla/telemetry';
import type pg from 'pg';
import type { DatabaseMetrics } from '../metrics.js';

/** Records one statement deletes at most, so it holds its locks and I/O for a moment only. */
export const SWEEP_BATCH_SIZE = 500;
/** Rest between two statements of a run, so clearing a large backlog never crowds out agents' queries. */
const SWEEP_PAUSE_MS = 100;
const MISSING_FUNCTION_CODES = ['42883', '42501'];

export interface SweepSchedule {
  intervalMs: number;
  /** Tests shrink these; production uses the defaults above. */
  batchSize?: number;
  pauseMs?: number;
}

/**
 * Deletes at most `limit` expired idempotency records of any tenant in one statement, and returns how
 * many. Row-level security keeps the runtime role to one tenant's records, so it goes through
 * flotilla.delete_expired_idempotency_keys (sql/runtime-role.sql), which decides what expired means
 * itself and never touches a record inside the window. The role's sessions default to read-only.
 */
export async function deleteExpiredKeys(pool: pg.Pool, limit: number, statementTimeoutMs: number): Promise<number> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(`BEGIN READ WRITE; SET LOCAL statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
    const { rows } = await client.query<{ deleted: number }>(
      'SELECT flotilla.delete_expired_idempotency_keys($1) AS deleted',
      [limit],
    );
    await client.query('COMMIT');
    return rows[0]?.deleted ?? 0;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * Every `intervalMs`, deletes expired idempotency records in batches until none is left. Several
 * replicas may sweep at once: the function takes its batch with SKIP LOCKED, so they delete disjoint
 * records, each counts only its own, and none waits for another. One replica never overlaps itself.
 */
export class IdempotencySweep {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly deleteBatch: (limit: number) => Promise<number>,
    private readonly metrics: DatabaseMetrics,
    private readonly logger: Logger,
    private readonly options: SweepSchedule,
  ) {}

  start(): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .catch((error: { code?: string; message?: string }) => {
          // Undefined function or permission denied: a database bootstrapped by an older runtime-role.sql.
          const hint = MISSING_FUNCTION_CODES.includes(error.code ?? '')
            ? 'apply the current sql/runtime-role.sql: it creates and grants flotilla.delete_expired_idempotency_keys'
            : undefined;
          this.logger.warn({ err: { code: error.code, message: error.message }, hint }, 'idempotency sweep failed');
        })
        .finally(() => this.start());
    }, this.options.intervalMs);
    // A pending sweep never keeps the process alive.
    this.timer.unref();
  }

  /** One run: batches until a short one says nothing expired is left. Returns how many records went. */
  async runOnce(): Promise<number> {
    const batchSize = this.options.batchSize ?? SWEEP_BATCH_SIZE;
    const started = performance.now();
    let total = 0;
    const { signal } = this.stopping;
    while (!signal.aborted) {
      const deleted = await this.deleteBatch(batchSize);
      total += deleted;
      this.metrics.idempotencyKeysSwept.inc(deleted);
      if (deleted < batchSize) {
        this.metrics.idempotencySweepLastSuccess.set(Date.now() / 1000);
        break;
      }
      await sleep(this.options.pauseMs ?? SWEEP_PAUSE_MS, undefined, { signal }).catch(() => undefined);
    }
    if (total > 0) {
      this.logger.info({ deleted: total, durationMs: Math.round(performance.now() - started) }, 'idempotency sweep');
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
