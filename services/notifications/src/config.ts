import { env } from '@flotilla/runtime';
import { z } from 'zod';

/** The notifications server's own variables (SPEC §10), on top of the runtime's. */
export const notificationsEnvironment = {
  /** The runtime role (sql/runtime-role.sql); never the migration role. */
  DATABASE_URL: z.string().min(1, 'DATABASE_URL is required: the runtime role’s connection string'),
  /** Operator-configured channels, JSON or YAML (a mounted Secret). */
  NOTIFY_CHANNELS_FILE: z.string().min(1, 'NOTIFY_CHANNELS_FILE is required: the path of the channels file'),
  /** More recipients than this in one notification needs the notify:broadcast scope. */
  NOTIFY_MAX_RECIPIENTS: env.positiveInt(10),
  /** Deadline of one delivery attempt: connecting, sending and reading the response. */
  NOTIFY_DELIVERY_TIMEOUT_MS: env.positiveInt(10_000),
  /** Attempts per notification before it is marked failed (permanent errors stop at the first). */
  NOTIFY_MAX_ATTEMPTS: env.positiveInt(8),
  /** First retry delay; it doubles per attempt (with jitter), capped at five minutes or this value. */
  NOTIFY_RETRY_BASE_MS: env.positiveInt(1000),
  /** Deliveries one replica runs at a time. */
  NOTIFY_WORKER_CONCURRENCY: env.positiveInt(5),
  /** Finished notifications (delivered, failed, cancelled) are deleted, key and all, this many days after they finished. */
  NOTIFY_RETENTION_DAYS: env.positiveInt(30),
  /** How often each worker runs the retention sweep. */
  NOTIFY_RETENTION_SWEEP_MS: env.positiveInt(60 * 60_000),
};

/** What `--migrate` reads: the migration role's connection, never the runtime role's. */
export const migrationEnvironment = {
  DATABASE_MIGRATION_URL: z.string().min(1, 'DATABASE_MIGRATION_URL is required: the migration role’s connection'),
};
