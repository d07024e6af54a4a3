import type { Db, Job, PgBoss } from 'pg-boss';

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

/** One SQL statement with its parameters. */
export interface Statement {
  sql: string;
  values: readonly unknown[];
}

/**
 * The delivery queue as the store uses it: each operation is the statement pg-boss builds for it,
 * which the store runs inside its own transaction or pipeline, so a notification's state and its
 * job always change together (and accepting one costs a single round trip).
 */
export class DeliveryQueue {
  constructor(
    private readonly boss: PgBoss,
    /** How long a worker may hold a job before pg-boss presumes it crashed and hands the job on. */
    private readonly expireInSeconds: number,
  ) {}

  /** Creates job `jobId`, which delivers `notificationId` at `startAfter` (at once when absent). */
  enqueue(job: { jobId: string; notificationId: string; startAfter?: Date }): Promise<Statement> {
    return statementOf((db) =>
      this.boss.send(DELIVERY_QUEUE, { notificationId: job.notificationId } satisfies DeliveryJob, {
        ...DELIVERY_QUEUE_OPTIONS,
        id: job.jobId,
        expireInSeconds: this.expireInSeconds,
        ...(job.startAfter ? { startAfter: job.startAfter } : {}),
        db,
      }),
    );
  }

  cancel(jobId: string): Promise<Statement> {
    return statementOf((db) => this.boss.cancel(DELIVERY_QUEUE, jobId, { db }));
  }

  /** Settles the attempt a worker holds, in the transaction that records its outcome. */
  complete(job: Job<DeliveryJob>): Promise<Statement> {
    // Fenced to this attempt: a job pg-boss already handed to another worker is left alone.
    return statementOf((db) =>
      this.boss.complete(DELIVERY_QUEUE, { id: job.id, retryCount: job.retryCount }, null, { db }),
    );
  }
}

/**
 * The one statement a pg-boss call runs through its `db` adapter, captured instead of run. Each of
 * these calls runs exactly one (pg-boss is pinned; a version that ran more would fail here, and in
 * the tests, rather than lose a statement). The adapter answers with an empty row, which pg-boss
 * only turns into the return value nobody reads here.
 */
async function statementOf(call: (db: Db) => Promise<unknown>): Promise<Statement> {
  const statements: Statement[] = [];
  await call({
    executeSql: async (sql, values) => {
      statements.push({ sql, values: values ?? [] });
      return { rows: [{}] } as Awaited<ReturnType<Db['executeSql']>>;
    },
  });
  const [statement] = statements;
  if (statements.length !== 1 || !statement) {
    throw new Error(`pg-boss built ${statements.length} statements for one queue operation; expected one`);
  }
  return statement;
}
