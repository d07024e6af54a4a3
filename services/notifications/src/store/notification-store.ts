import { randomUUID } from 'node:crypto';
import { type PipelineStep, runPipeline, type StepResult } from '@flotilla/postgres';
import pg from 'pg';
import type { Job } from 'pg-boss';
import type { Severity } from '../channels/channel.js';
import type { DeliveryJob, DeliveryQueue } from '../delivery/queue.js';
import { prepared } from './prepared.js';

export const STATUSES = ['scheduled', 'queued', 'sending', 'retrying', 'delivered', 'failed', 'cancelled'] as const;
export type NotificationStatus = (typeof STATUSES)[number];

/** Not yet final: what the queue-depth gauge counts. */
const PENDING = ['scheduled', 'queued', 'sending', 'retrying'];
/** Final: no attempt will ever run again, so only these may age out. */
const FINISHED = ['delivered', 'failed', 'cancelled'];
/** No attempt is running right now, so a cancel still wins. */
const CANCELLABLE = ['scheduled', 'queued', 'retrying'];

export interface NotificationRecord {
  id: string;
  /** Insertion order (a bigint, as text): the list cursor. */
  seq: string;
  tenant: string;
  idempotencyKey: string;
  fingerprint: string;
  channel: string;
  recipients: string[];
  subject: string | null;
  body: string;
  severity: Severity;
  status: NotificationStatus;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  sendAt: Date;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  cancelledAt: Date | null;
}

export interface NewNotification {
  tenant: string;
  createdBy: string;
  idempotencyKey: string;
  fingerprint: string;
  channel: string;
  recipients: readonly string[];
  subject: string | null;
  body: string;
  severity: Severity;
  sendAt: Date | undefined;
}

export interface ListFilter {
  status?: NotificationStatus;
  channel?: string;
  /** Only rows inserted before this one (its seq). */
  beforeSeq?: string;
  limit: number;
}

/** How one delivery attempt ended, as the worker decided. */
export type AttemptOutcome =
  | { kind: 'delivered' }
  | { kind: 'failed'; reason: string }
  /** `counted: false` when no attempt was made (the channel's circuit was open). */
  | { kind: 'retry'; reason: string; at: Date; counted: boolean };

export type CancelResult =
  | { outcome: 'cancelled'; record: NotificationRecord }
  | { outcome: 'too_late'; record: NotificationRecord }
  | { outcome: 'not_found' };

export interface QueueStats {
  depth: number;
  oldestPendingSeconds: number;
}

const COLUMNS = `
  id, seq::text AS seq, tenant, idempotency_key AS "idempotencyKey", fingerprint, channel, recipients, subject,
  body, severity, status, attempts, last_error AS "lastError", created_at AS "createdAt", send_at AS "sendAt",
  next_attempt_at AS "nextAttemptAt", delivered_at AS "deliveredAt", cancelled_at AS "cancelledAt"`;

/** A repeated idempotency key violates notification_idempotency: the caller then reads the earlier row. */
const INSERT_NOTIFICATION = `
  INSERT INTO notifications.notification
    (id, tenant, idempotency_key, fingerprint, created_by, channel, recipients, subject, body, severity,
     status, job_id, send_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
          CASE WHEN $11::timestamptz > now() THEN 'scheduled' ELSE 'queued' END, $12,
          greatest(coalesce($11::timestamptz, now()), now()))
  RETURNING ${COLUMNS}`;

function isIdempotencyConflict(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === '23505' && error.constraint === 'notification_idempotency';
}

/**
 * Every statement about notifications, tenant-scoped wherever a caller is involved. Each change of
 * a notification's state and the matching change to its delivery job commit in one transaction:
 * accepting one creates its job, a retry swaps the job for the next, a cancel cancels it.
 */
export class NotificationStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly queue: DeliveryQueue,
  ) {}

  /**
   * Inserts the notification and its first job in one round trip, or returns the tenant's earlier
   * one with the same key. The two inserts are one pipeline, so one implicit transaction: a repeated
   * key fails the first, Postgres rolls both back, and the earlier notification is read instead.
   */
  async insert(notification: NewNotification): Promise<{ record: NotificationRecord; created: boolean }> {
    const id = randomUUID();
    const jobId = randomUUID();
    const job = await this.queue.enqueue({ jobId, notificationId: id, startAfter: notification.sendAt });
    let results: StepResult[];
    try {
      results = await this.pipeline([
        {
          sql: INSERT_NOTIFICATION,
          values: [
            id,
            notification.tenant,
            notification.idempotencyKey,
            notification.fingerprint,
            notification.createdBy,
            notification.channel,
            notification.recipients,
            notification.subject,
            notification.body,
            notification.severity,
            notification.sendAt ?? null,
            jobId,
          ],
          returnsRows: true,
        },
        job,
      ]);
    } catch (error) {
      if (!isIdempotencyConflict(error)) throw error;
      // The conflicting insert has committed by now (the unique check waited for it), so this sees it.
      const earlier = await this.findByKey(notification.tenant, notification.idempotencyKey);
      if (!earlier) throw new Error('idempotency conflict without a committed row');
      return { record: earlier, created: false };
    }
    const [inserted, enqueued] = results;
    const record = inserted?.rows[0] as NotificationRecord | undefined;
    // pg-boss's insert skips a job whose id exists; a fresh UUID never does, so this is never reached.
    if (!record || enqueued?.rowCount !== 1) throw new Error(`notification ${id} was stored without its job`);
    return { record, created: true };
  }

  async findByKey(tenant: string, idempotencyKey: string): Promise<NotificationRecord | undefined> {
    const { rows } = await prepared<NotificationRecord>(
      this.pool,
      `SELECT ${COLUMNS} FROM notifications.notification WHERE tenant = $1 AND idempotency_key = $2`,
      [tenant, idempotencyKey],
    );
    return rows[0];
  }

  async get(tenant: string, id: string): Promise<NotificationRecord | undefined> {
    const { rows } = await prepared<NotificationRecord>(
      this.pool,
      `SELECT ${COLUMNS} FROM notifications.notification WHERE tenant = $1 AND id = $2`,
      [tenant, id],
    );
    return rows[0];
  }

  async list(tenant: string, filter: ListFilter): Promise<NotificationRecord[]> {
    const { rows } = await prepared<NotificationRecord>(
      this.pool,
      `SELECT ${COLUMNS} FROM notifications.notification
        WHERE tenant = $1
          AND ($2::text IS NULL OR status = $2)
          AND ($3::text IS NULL OR channel = $3)
          AND ($4::bigint IS NULL OR seq < $4)
        ORDER BY seq DESC
        LIMIT $5`,
      [tenant, filter.status ?? null, filter.channel ?? null, filter.beforeSeq ?? null, filter.limit],
    );
    return rows;
  }

  /**
   * Cancels a notification no attempt is running for. The row lock makes this and a worker's claim
   * strictly ordered: whichever comes second sees the other's status.
   */
  cancel(tenant: string, id: string): Promise<CancelResult> {
    return this.transaction(async (tx) => {
      const { rows } = await prepared<NotificationRecord & { jobId: string | null }>(
        tx,
        `SELECT ${COLUMNS}, job_id AS "jobId" FROM notifications.notification WHERE tenant = $1 AND id = $2 FOR UPDATE`,
        [tenant, id],
      );
      const current = rows[0];
      if (!current) return { outcome: 'not_found' };
      if (!CANCELLABLE.includes(current.status)) return { outcome: 'too_late', record: current };
      const updated = await prepared<NotificationRecord>(
        tx,
        `UPDATE notifications.notification
            SET status = 'cancelled', cancelled_at = now(), next_attempt_at = NULL, job_id = NULL, updated_at = now()
          WHERE id = $1
          RETURNING ${COLUMNS}`,
        [id],
      );
      if (current.jobId) {
        const cancel = await this.queue.cancel(current.jobId);
        await prepared(tx, cancel.sql, cancel.values);
      }
      return { outcome: 'cancelled', record: updated.rows[0] as NotificationRecord };
    });
  }

  /**
   * Marks the notification as being sent by `job` and counts the attempt, before anything leaves the
   * process: an attempt cut short by a crash is still counted. Undefined when the job is no longer the
   * one responsible (cancelled, finished, or superseded by a retry).
   */
  async claim(job: Job<DeliveryJob>): Promise<NotificationRecord | undefined> {
    const { rows } = await prepared<NotificationRecord>(
      this.pool,
      `UPDATE notifications.notification
          SET status = 'sending', attempts = attempts + 1, next_attempt_at = NULL, updated_at = now()
        WHERE id = $1 AND job_id = $2 AND status = ANY($3)
        RETURNING ${COLUMNS}`,
      [job.data.notificationId, job.id, [...PENDING]],
    );
    return rows[0];
  }

  /**
   * Records how the attempt `job` made ended and settles the job, in one transaction; a retry also
   * enqueues the job for the next attempt. Returns false when the job had lost its claim meanwhile.
   */
  async finish(job: Job<DeliveryJob>, outcome: AttemptOutcome): Promise<boolean> {
    const id = job.data.notificationId;
    const settle = await this.queue.complete(job);
    if (outcome.kind !== 'retry') {
      // The outcome and the job's completion: one pipeline, one implicit transaction, one round trip.
      const [recorded] = await this.pipeline([
        {
          sql: `UPDATE notifications.notification
                   SET status = $3, last_error = $4, job_id = NULL, updated_at = now(),
                       delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
                 WHERE id = $1 AND job_id = $2 AND status = 'sending'`,
          values: [id, job.id, outcome.kind, outcome.kind === 'failed' ? outcome.reason : null],
        },
        settle,
      ]);
      return recorded?.rowCount === 1;
    }
    // A retry enqueues the next attempt only if this one still held its claim: a transaction.
    const nextJobId = randomUUID();
    const next = await this.queue.enqueue({ jobId: nextJobId, notificationId: id, startAfter: outcome.at });
    return this.transaction(async (tx) => {
      const recorded = await prepared(
        tx,
        `UPDATE notifications.notification
            SET status = 'retrying', last_error = $3, next_attempt_at = $4, job_id = $5,
                attempts = attempts - CASE WHEN $6 THEN 0 ELSE 1 END, updated_at = now()
          WHERE id = $1 AND job_id = $2 AND status = 'sending'`,
        [id, job.id, outcome.reason, outcome.at, nextJobId, outcome.counted],
      );
      if (recorded.rowCount === 1) await prepared(tx, next.sql, next.values);
      await prepared(tx, settle.sql, settle.values);
      return recorded.rowCount === 1;
    });
  }

  /**
   * Deletes at most `limit` notifications, of any tenant, that finished more than `retentionDays`
   * ago, and returns how many. The idempotency key is a column of the row, so it goes with it.
   * SKIP LOCKED gives sweeps running at once on several workers disjoint batches: each deletes and
   * counts its own rows, and none waits for another.
   */
  async deleteFinished(retentionDays: number, limit: number): Promise<number> {
    const { rowCount } = await prepared(
      this.pool,
      `WITH batch AS (
         SELECT id FROM notifications.notification
          WHERE status = ANY($1) AND updated_at < now() - make_interval(days => $2)
          LIMIT $3
            FOR UPDATE SKIP LOCKED
       )
       DELETE FROM notifications.notification n USING batch WHERE n.id = batch.id`,
      [FINISHED, retentionDays, limit],
    );
    return rowCount ?? 0;
  }

  /** Across all tenants: a bounded figure for dashboards, never a label per tenant. */
  async queueStats(): Promise<QueueStats> {
    const { rows } = await prepared<{ depth: number; oldest: number }>(
      this.pool,
      `SELECT count(*)::int AS depth,
              coalesce(extract(epoch FROM now() - min(send_at) FILTER (WHERE send_at <= now())), 0)::float8 AS oldest
         FROM notifications.notification
        WHERE status = ANY($1)`,
      [PENDING],
    );
    const row = rows[0];
    return { depth: row?.depth ?? 0, oldestPendingSeconds: row?.oldest ?? 0 };
  }

  /** For /readyz: answers within the probe's deadline or fails. */
  async ping(signal: AbortSignal): Promise<void> {
    const aborted = new Promise<never>((_, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    await Promise.race([this.pool.query('SELECT 1'), aborted]);
  }

  /**
   * Steps on one pooled connection, in one round trip (see @flotilla/postgres). A failure other than
   * Postgres's own refusal may have left the connection unusable, so it is discarded.
   */
  private async pipeline(steps: PipelineStep[]): Promise<StepResult[]> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      return await runPipeline(client, steps);
    } catch (error) {
      broken = !(error instanceof pg.DatabaseError);
      throw error;
    } finally {
      client.release(broken);
    }
  }

  private async transaction<T>(work: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      // A connection that could not even roll back is discarded rather than handed to the next caller.
      client.release(broken);
    }
  }
}
