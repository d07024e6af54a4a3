import { createRequire } from 'node:module';
import {
  createDependencyPolicy,
  createRateLimiter,
  isTransientPostgresError,
  type RateLimiter,
} from '@flotilla/resilience';
import {
  BatchSweep,
  type RuntimeConfig,
  type ServiceDefinition,
  type ServiceKit,
  type ServiceParts,
} from '@flotilla/runtime';
import pg from 'pg';
import type { z } from 'zod';
import { loadChannelsFile } from './channels/channels-file.js';
import { ChannelDirectory } from './channels/directory.js';
import type { notificationsEnvironment } from './config.js';
import { createBoss, DeliveryWorkers, startBoss } from './delivery/boss.js';
import { Deliverer } from './delivery/deliverer.js';
import { DeliveryQueue } from './delivery/queue.js';
import { createNotificationMetrics, createRetentionMetrics } from './metrics.js';
import { Outbox } from './outbox.js';
import { NotificationStore } from './store/notification-store.js';
import type { NotificationsDeps } from './tool.js';
import { cancelNotification } from './tools/cancel_notification.js';
import { getNotification } from './tools/get_notification.js';
import { listChannels } from './tools/list_channels.js';
import { listNotifications } from './tools/list_notifications.js';
import { sendNotification } from './tools/send_notification.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export type NotificationsConfig = RuntimeConfig & z.output<z.ZodObject<typeof notificationsEnvironment>>;

/**
 * What a process does: `api` serves MCP and only enqueues, `worker` only delivers (no MCP port, just
 * the admin port), `all` does both (the default).
 */
export type Role = 'api' | 'worker' | 'all';

/**
 * A worker holding a job longer than the delivery timeout plus this is presumed dead, and pg-boss
 * hands the job to another worker; the margin covers recording the outcome in Postgres.
 */
const EXPIRY_MARGIN_SECONDS = 5;

/** Which tools the notifications server offers. Adding a tool is one file in tools/ and one line here. */
export const notificationsService: ServiceDefinition<NotificationsDeps> = {
  name: 'notifications',
  version,
  title: 'Flotilla Notifications',
  instructions:
    'Sends notifications through channels the operator configured (webhooks, Slack, e-mail). Call list_channels ' +
    'to see them, then send_notification with a channel name and a fresh idempotencyKey; retry a timed-out send ' +
    'with the same key, which never sends twice. Delivery happens in the background with retries: check it with ' +
    'get_notification or list_notifications, and cancel_notification stops one that has not been sent yet.',
  tools: [listChannels, sendNotification, getNotification, listNotifications, cancelNotification],
};

/**
 * Builds the notifications server's parts: channels from NOTIFY_CHANNELS_FILE, the store and its
 * pg-boss queue on Postgres (as the runtime role), the outbox tools use and, unless this is an
 * API-only process, the delivery workers.
 */
export async function setupNotifications(
  kit: ServiceKit<NotificationsConfig>,
  role: Role = 'all',
): Promise<ServiceParts<NotificationsDeps>> {
  const { config, logger, metrics, redis } = kit;
  const channelConfigs = loadChannelsFile(config.NOTIFY_CHANNELS_FILE);
  const runsWorkers = role !== 'api';
  const concurrency = config.NOTIFY_WORKER_CONCURRENCY;

  const pool = new pg.Pool({
    connectionString: config.DATABASE_URL,
    max: runsWorkers ? concurrency + 5 : 10,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 10_000,
    keepAlive: true,
    application_name: 'flotilla-notifications',
  });
  // An idle client losing its connection must not crash the process; the next checkout reconnects.
  pool.on('error', (error) =>
    logger.warn({ err: { code: (error as { code?: string }).code } }, 'idle postgres client failed'),
  );
  // The pool listens only while a client is idle: one checked out when its connection dies (a Postgres crash or
  // restart) emits 'error' to nobody, which throws and ends the process. Its query fails on its own, and the holder
  // discards it; this listener only keeps the event from being fatal.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const boss = createBoss({
    connectionString: config.DATABASE_URL,
    runsWorkers,
    poolMax: runsWorkers ? concurrency + 2 : 2,
    logger,
  });
  const channels = new ChannelDirectory(channelConfigs, {
    timeoutMs: config.NOTIFY_DELIVERY_TIMEOUT_MS,
    userAgent: `flotilla-notifications/${version}`,
  });
  const expireInSeconds = Math.ceil(config.NOTIFY_DELIVERY_TIMEOUT_MS / 1000) + EXPIRY_MARGIN_SECONDS;
  const store = new NotificationStore(pool, new DeliveryQueue(boss, expireInSeconds));
  const notificationMetrics = createNotificationMetrics(metrics.registry, channels.names(), () => store.queueStats());

  metrics.circuitOpen.set({ dependency: 'postgres' }, 0);
  const postgres = createDependencyPolicy({
    name: 'postgres',
    isTransient: isTransientPostgresError,
    onCircuitChange: (open) => {
      metrics.circuitOpen.set({ dependency: 'postgres' }, open ? 1 : 0);
      logger.warn({ dependency: 'postgres', open }, open ? 'circuit opened' : 'circuit closed');
    },
  });
  const channelLimiters = new Map<string, RateLimiter>();
  for (const channel of channelConfigs) {
    if (!channel.rateLimitPerMinute) continue;
    channelLimiters.set(
      channel.name,
      createRateLimiter({
        pointsPerMinute: channel.rateLimitPerMinute,
        keyPrefix: 'flotilla:notifications:rl:channel',
        redis,
        failMode: config.RATE_LIMIT_FAIL_MODE,
      }),
    );
  }
  const outbox = new Outbox({
    store,
    channels,
    postgres,
    channelLimiters,
    maxRecipients: config.NOTIFY_MAX_RECIPIENTS,
  });

  const dependencies: ServiceParts<NotificationsDeps>['dependencies'] = [
    { name: 'postgres', required: true, check: (signal) => store.ping(signal) },
  ];
  const workers = runsWorkers
    ? new DeliveryWorkers(boss, { concurrency, staleAfterMs: (expireInSeconds + 30) * 1000 })
    : undefined;
  // Workers also bound the table: finished notifications go after NOTIFY_RETENTION_DAYS. pg-boss
  // bounds its own job table (DELIVERY_QUEUE_OPTIONS: finished jobs go after a day).
  const retention = runsWorkers
    ? new BatchSweep({
        name: 'retention sweep',
        deleteBatch: (limit) => store.deleteFinished(config.NOTIFY_RETENTION_DAYS, limit),
        metrics: createRetentionMetrics(metrics.registry),
        logger,
        intervalMs: config.NOTIFY_RETENTION_SWEEP_MS,
      })
    : undefined;
  const close = async () => {
    await retention?.stop();
    // Running deliveries finish (or go back to the queue) before the pools close.
    await boss.stop({ graceful: true, timeout: config.SHUTDOWN_TIMEOUT_MS });
    channels.close();
    await pool.end();
  };
  try {
    await startBoss(boss);
    if (workers) {
      const deliverer = new Deliverer(
        store,
        channels,
        { maxAttempts: config.NOTIFY_MAX_ATTEMPTS, retryBaseMs: config.NOTIFY_RETRY_BASE_MS },
        notificationMetrics,
        metrics,
        logger,
      );
      await workers.start((job) => deliverer.run(job));
      dependencies.push({ name: 'workers', required: true, check: async () => workers.check() });
      retention?.start();
    }
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  logger.info({ role, channels: channels.names(), workers: workers ? concurrency : 0 }, 'notifications ready');
  return { deps: { channels, outbox }, dependencies, close };
}
