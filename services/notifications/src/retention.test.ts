import { randomUUID } from 'node:crypto';
import { BatchSweep, type RunningService, SWEEP_BATCH_SIZE } from '@flotilla/runtime';
import { createLogger } from '@flotilla/telemetry';
import { callTool, connectMcpClient, mintApiKey, resultOf, writeApiKeysFile } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBoss, startBoss } from './delivery/boss.js';
import { DELIVERY_QUEUE, DeliveryQueue, QUEUE_SCHEMA } from './delivery/queue.js';
import { createRetentionMetrics } from './metrics.js';
import { NotificationStore } from './store/notification-store.js';
import {
  newWebhookSecret,
  startTestNotifications,
  type TestNotifications,
  waitForNotification,
} from './testing/harness.js';
import { type HttpReceiver, startHttpReceiver } from './testing/receivers.js';

const FINISHED = ['delivered', 'failed', 'cancelled'];
const PENDING = ['scheduled', 'queued', 'sending', 'retrying'];
const alice = mintApiKey({ subject: 'alice', tenant: 'acme', scopes: ['notify:read', 'notify:send'] });
const logger = createLogger({ service: 'flotilla-notifications', version: 'test', level: 'silent' });

let env: TestNotifications;
let receiver: HttpReceiver;
let auth: Record<string, string>;
const pools: pg.Pool[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  receiver = await startHttpReceiver();
  env = await startTestNotifications({
    channels: [{ name: 'hooks', kind: 'webhook', url: receiver.url, secret: newWebhookSecret() }],
  });
  auth = { AUTH_MODE: 'api-key', AUTH_API_KEYS_FILE: await writeApiKeysFile([alice.entry]) };
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(pools.map((pool) => pool.end()));
  await env?.stop();
  await receiver?.close();
});

beforeEach(async () => {
  await env.admin('DELETE FROM notifications.notification');
});

/** The store as a worker holds it, logged in as the runtime role. */
function runtimeStore(): NotificationStore {
  const pool = new pg.Pool({ connectionString: env.runtimeUrl, max: 2 });
  pools.push(pool);
  const boss = createBoss({ connectionString: env.runtimeUrl, runsWorkers: false, poolMax: 1, logger });
  return new NotificationStore(pool, new DeliveryQueue(boss, 10));
}

/** A sweep as one worker replica runs it, with metrics of its own; `statements` records each batch. */
function newSweep(options: { retentionDays?: number; batchSize?: number; statements?: number[] } = {}) {
  const store = runtimeStore();
  const metrics = createRetentionMetrics(new Registry());
  const sweep = new BatchSweep({
    name: 'retention sweep',
    deleteBatch: async (limit) => {
      const deleted = await store.deleteFinished(options.retentionDays ?? 30, limit);
      options.statements?.push(deleted);
      return deleted;
    },
    metrics,
    logger,
    intervalMs: 3_600_000,
    pauseMs: 0,
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
  });
  return { sweep, counted: async () => (await metrics.deleted.get()).values[0]?.value ?? 0 };
}

/** `count` notifications in `status`, last changed `ageDays` ago (created a day before that). */
async function seed(status: string, ageDays: number, count = 1): Promise<void> {
  await env.admin(
    `INSERT INTO notifications.notification
       (id, tenant, idempotency_key, fingerprint, created_by, channel, body, severity, status,
        created_at, send_at, updated_at, delivered_at, cancelled_at)
     SELECT gen_random_uuid(), 'acme', gen_random_uuid()::text, 'fingerprint', 'seed', 'hooks', 'body', 'info', $1,
            at - interval '1 day', at - interval '1 day', at,
            CASE WHEN $1 = 'delivered' THEN at END, CASE WHEN $1 = 'cancelled' THEN at END
       FROM generate_series(1, $3), LATERAL (SELECT now() - make_interval(days => $2)) AS t(at)`,
    [status, ageDays, count],
  );
}

async function remaining(): Promise<Record<string, number>> {
  const { rows } = await env.admin(
    `SELECT status || CASE WHEN updated_at < now() - interval '30 days' THEN ':old' ELSE ':recent' END AS kind,
            count(*)::int AS n
       FROM notifications.notification GROUP BY 1`,
  );
  return Object.fromEntries(rows.map((row) => [row.kind, row.n]));
}

describe('the retention sweep', () => {
  it('deletes finished notifications past the retention and keeps pending and recent ones', async () => {
    for (const status of FINISHED) {
      await seed(status, 31, 2);
      await seed(status, 29);
    }
    // Pending is never swept, however old: a scheduled send or a stuck attempt is still owed.
    for (const status of PENDING) await seed(status, 400);
    const { sweep, counted } = newSweep();

    expect(await sweep.runOnce()).toBe(6);
    expect(await counted()).toBe(6);
    expect(await remaining()).toEqual({
      'delivered:recent': 1,
      'failed:recent': 1,
      'cancelled:recent': 1,
      'scheduled:old': 1,
      'queued:old': 1,
      'sending:old': 1,
      'retrying:old': 1,
    });
    expect(await sweep.runOnce()).toBe(0);
  });

  it('bounds every statement to one batch and goes on until the backlog is gone', async () => {
    await seed('delivered', 40, 1000);
    await seed('failed', 35, 203);
    await seed('delivered', 1, 4);
    const statements: number[] = [];
    const { sweep, counted } = newSweep({ statements });

    expect(await sweep.runOnce()).toBe(1203);
    expect(statements).toEqual([SWEEP_BATCH_SIZE, SWEEP_BATCH_SIZE, 203]);
    expect(await counted()).toBe(1203);
    expect(await remaining()).toEqual({ 'delivered:recent': 4 });
  });

  it('lets workers sweep at once: disjoint batches, each row counted once, no failure', async () => {
    await seed('delivered', 40, 3000);
    const workers = [newSweep({ batchSize: 50 }), newSweep({ batchSize: 50 }), newSweep({ batchSize: 50 })];

    const totals = await Promise.all(workers.map(({ sweep }) => sweep.runOnce()));
    const counted = await Promise.all(workers.map((worker) => worker.counted()));
    expect(totals.reduce((sum, total) => sum + total, 0)).toBe(3000);
    expect(counted).toEqual(totals);
    expect(await remaining()).toEqual({});
  });

  it('takes the idempotency key with the row: the same key after the retention is a new notification', async () => {
    const server = await env.startServer({ ...auth, NOTIFY_RETENTION_DAYS: '7' });
    const client = await connectMcpClient(server.mcpUrl, { token: alice.key });
    clients.push(client);
    const key = randomUUID();
    const send = async () =>
      resultOf<{ id: string; status: string }>(
        await callTool(client, 'send_notification', { channel: 'hooks', body: 'disk full', idempotencyKey: key }),
      );
    const first = await send();
    await waitForNotification(client, first.id, (state) => state.status === 'delivered');
    expect((await send()).id).toBe(first.id);

    // Six days after delivery it is kept, and the key still answers with it.
    await env.admin(`UPDATE notifications.notification SET updated_at = now() - interval '6 days' WHERE id = $1`, [
      first.id,
    ]);
    expect(await newSweep({ retentionDays: 7 }).sweep.runOnce()).toBe(0);
    expect((await send()).id).toBe(first.id);

    await env.admin(`UPDATE notifications.notification SET updated_at = now() - interval '8 days' WHERE id = $1`, [
      first.id,
    ]);
    expect(await newSweep({ retentionDays: 7 }).sweep.runOnce()).toBe(1);
    const keys = await env.admin(
      'SELECT count(*)::int AS n FROM notifications.notification WHERE idempotency_key = $1',
      [key],
    );
    expect(keys.rows[0].n).toBe(0);
    const again = await send();
    expect(again.id).not.toBe(first.id);
    await waitForNotification(client, again.id, (state) => state.status === 'delivered');
    await server.shutdown();
  });
});

describe('the sweep in a running server', () => {
  const scrape = async (server: RunningService) => (await fetch(`${server.adminUrl}/metrics`)).text();

  it('runs in workers on NOTIFY_RETENTION_SWEEP_MS, never in an API process, and counts on /metrics', async () => {
    await seed('failed', 8, 10);
    await seed('failed', 6, 5);
    await seed('queued', 8, 3);
    const settings = { NOTIFY_RETENTION_DAYS: '7', NOTIFY_RETENTION_SWEEP_MS: '200' };

    const api = await env.startServer({ ...auth, ...settings }, 'api');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await env.admin('SELECT count(*)::int AS n FROM notifications.notification')).rows[0].n).toBe(18);
    expect(await scrape(api)).not.toContain('flotilla_notifications_retention_deleted_total');

    const worker = await env.startServer(settings, 'worker');
    await expect
      .poll(async () => (await env.admin('SELECT count(*)::int AS n FROM notifications.notification')).rows[0].n, {
        timeout: 10_000,
        interval: 100,
      })
      .toBe(8);
    const statuses = await env.admin('SELECT status, count(*)::int AS n FROM notifications.notification GROUP BY 1');
    expect(Object.fromEntries(statuses.rows.map((row) => [row.status, row.n]))).toEqual({ failed: 5, queued: 3 });
    const metrics = await scrape(worker);
    expect(metrics).toMatch(/^flotilla_notifications_retention_deleted_total\{[^}]*\} 10$/m);
    expect(metrics).toMatch(/^flotilla_notifications_retention_last_success_timestamp_seconds\{[^}]*\} [1-9]/m);
    await Promise.all([api.shutdown(), worker.shutdown()]);
  });
});

describe('pg-boss’s own table', () => {
  it('loses a finished delivery job a day after it finished, in maintenance the runtime role runs', async () => {
    const server = await env.startServer(auth);
    const client = await connectMcpClient(server.mcpUrl, { token: alice.key });
    clients.push(client);
    const sent = resultOf<{ id: string }>(
      await callTool(client, 'send_notification', { channel: 'hooks', body: 'done', idempotencyKey: randomUUID() }),
    );
    await waitForNotification(client, sent.id, (state) => state.status === 'delivered');
    await server.shutdown();
    const { rows } = await env.admin(`SELECT table_name FROM ${QUEUE_SCHEMA}.queue WHERE name = $1`, [DELIVERY_QUEUE]);
    const jobs = `${QUEUE_SCHEMA}.${pg.escapeIdentifier(rows[0].table_name)}`;
    const jobsOf = async () =>
      (await env.admin(`SELECT state FROM ${jobs} WHERE data->>'notificationId' = $1`, [sent.id])).rows;
    expect(await jobsOf()).toEqual([{ state: 'completed' }]);

    // A day and a bit later, and due for maintenance (which runs every few minutes at most).
    await env.admin(
      `UPDATE ${jobs} SET completed_on = completed_on - interval '25 hours' WHERE data->>'notificationId' = $1`,
      [sent.id],
    );
    await env.admin(`UPDATE ${QUEUE_SCHEMA}.queue SET maintain_on = now() - interval '1 hour' WHERE name = $1`, [
      DELIVERY_QUEUE,
    ]);
    const boss = createBoss({ connectionString: env.runtimeUrl, runsWorkers: false, poolMax: 1, logger });
    await startBoss(boss);
    try {
      await boss.supervise(DELIVERY_QUEUE);
    } finally {
      await boss.stop({ graceful: false });
    }
    expect(await jobsOf()).toEqual([]);
    // The notification is the record and stays for its own retention.
    const kept = await env.admin('SELECT status FROM notifications.notification WHERE id = $1', [sent.id]);
    expect(kept.rows).toEqual([{ status: 'delivered' }]);
  });
});
