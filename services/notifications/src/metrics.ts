import type { Registry } from '@flotilla/telemetry';
import { Counter, Gauge } from 'prom-client';
import type { QueueStats } from './store/notification-store.js';

/** The notifications server's own metrics (SPEC §6). Labels are bounded: channel names come from the operator. */
export interface NotificationMetrics {
  /** Notifications that reached a final state, by channel and outcome (`delivered` or `failed`). */
  deliveries: Counter<'channel' | 'outcome'>;
  /** Every attempt made, retries and re-sends after a crash included. */
  attempts: Counter<'channel'>;
}

export function createNotificationMetrics(
  registry: Registry,
  channels: readonly string[],
  queueStats: () => Promise<QueueStats>,
): NotificationMetrics {
  const deliveries = new Counter({
    name: 'flotilla_notifications_deliveries_total',
    help: 'Notifications that reached a final state, by channel and outcome (delivered or failed).',
    labelNames: ['channel', 'outcome'],
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'flotilla_notifications_delivery_attempts_total',
    help: 'Delivery attempts made, by channel, including retries and re-sends after a crash.',
    labelNames: ['channel'],
    registers: [registry],
  });
  // Zero series exist from the start, so rate() and ratios work before the first delivery.
  for (const channel of channels) {
    attempts.inc({ channel }, 0);
    for (const outcome of ['delivered', 'failed']) deliveries.inc({ channel, outcome }, 0);
  }

  // Both gauges read one query per scrape; a failed query leaves the last values in place rather
  // than failing the whole scrape.
  let scrape: Promise<QueueStats | undefined> | undefined;
  const current = () => {
    scrape ??= queueStats()
      .catch(() => undefined)
      .finally(() => {
        scrape = undefined;
      });
    return scrape;
  };
  new Gauge({
    name: 'flotilla_notifications_queue_depth',
    help: 'Notifications accepted and not yet final (scheduled, queued, sending or retrying), across all tenants.',
    registers: [registry],
    async collect() {
      const stats = await current();
      if (stats) this.set(stats.depth);
    },
  });
  new Gauge({
    name: 'flotilla_notifications_oldest_pending_seconds',
    help: 'How long the oldest notification that is due but not yet final has been waiting, in seconds.',
    registers: [registry],
    async collect() {
      const stats = await current();
      if (stats) this.set(stats.oldestPendingSeconds);
    },
  });
  return { deliveries, attempts };
}

/** The retention sweep's metrics; only processes that run workers sweep, so only they register these. */
export interface RetentionMetrics {
  /** Finished notifications this replica deleted because they outlived NOTIFY_RETENTION_DAYS. */
  deleted: Counter;
  /** When this replica last completed a sweep, as a Unix time. */
  lastSuccess: Gauge;
}

export function createRetentionMetrics(registry: Registry): RetentionMetrics {
  return {
    deleted: new Counter({
      name: 'flotilla_notifications_retention_deleted_total',
      help: 'Finished notifications (with their idempotency keys) deleted by this replica after NOTIFY_RETENTION_DAYS.',
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: 'flotilla_notifications_retention_last_success_timestamp_seconds',
      help: 'Unix time at which this replica last completed a retention sweep; 0 before the first.',
      registers: [registry],
    }),
  };
}
