import type pg from 'pg';
import type { Db, Job, PgBoss } from 'pg-boss';
import { prepared } from '../store/prepared.js';

/** pg-boss lives in its own schema, owned by the migration role like `notifications`. */
export const QUEUE_SCHEMA = 'notifications_queue';
export const DELIVERY_QUEUE = 'deliveries';

export interface DeliveryJob {
  notificationId: string;
}

/** A scheduled notification may wait this long; pg-boss must keep its job at least as long. */
export const MAX_SCHEDULE_DAYS = 30;

/**
 * The queue options every delivery job carries. One job is one delivery attempt: a failed attempt
 * is retried by a new job whose start time honours the backoff and the receiver's Retry-After,
 * so pg-boss's own retries only cover a worker that crashed or lost the database mid-attempt.
 */
export const DELIVERY_QUEUE_OPTIONS = {
  retryLimit: 50,
  retryDelay: 1,
  retryBackoff: true,
  retryDelayMax: 300,
  retentionSeconds: (MAX_SCHEDULE_DAYS + 1) * 86_400,
  // The notification row is the record; a finished job is only kept for a day of troubleshooting.
  deleteAfterSeconds: 86_400,
} as const;

/** The delivery queue as the store uses it: always inside the caller's transaction. */
export class DeliveryQueue {
  constructor(
    private readonly boss: PgBoss,
    /** How long a worker may hold a job before pg-boss presumes it crashed and hands the job on. */
    private readonly expireInSeconds: number,
  ) {}

  /** Creates job `jobId`, which delivers `notificationId` at `startAfter` (at once when absent). */
  async enqueue(tx: pg.ClientBase, job: { jobId: string; notificationId: string; startAfter?: Date }): Promise<void> {
    await this.boss.send(DELIVERY_QUEUE, { notificationId: job.notificationId } satisfies DeliveryJob, {
      ...DELIVERY_QUEUE_OPTIONS,
      id: job.jobId,
      expireInSeconds: this.expireInSeconds,
      ...(job.startAfter ? { startAfter: job.startAfter } : {}),
      db: transactional(tx),
    });
  }

  async cancel(tx: pg.ClientBase, jobId: string): Promise<void> {
    await this.boss.cancel(DELIVERY_QUEUE, jobId, { db: transactional(tx) });
  }

  /** Settles the attempt a worker holds in the same transaction that records its outcome. */
  async complete(tx: pg.ClientBase, job: Job<DeliveryJob>): Promise<void> {
    // Fenced to this attempt: a job pg-boss already handed to another worker is left alone.
    await this.boss.complete(DELIVERY_QUEUE, { id: job.id, retryCount: job.retryCount }, null, {
      db: transactional(tx),
    });
  }
}

/**
 * pg-boss's adapter interface over one checked-out client, so its statements join our transaction;
 * its fixed texts run prepared like ours.
 */
function transactional(client: pg.ClientBase): Db {
  return { executeSql: (text, values) => prepared(client, text, values) };
}
