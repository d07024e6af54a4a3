import { callTool, connectMcpClient, resultOf } from '@flotilla/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newWebhookSecret, startTestNotifications, type TestNotifications } from './testing/harness.js';
import { type HttpReceiver, startHttpReceiver, waitUntil } from './testing/receivers.js';

const NOTIFICATIONS = 200;
let env: TestNotifications;
let receiver: HttpReceiver;

beforeAll(async () => {
  receiver = await startHttpReceiver();
  // A slow receiver: every delivery is in flight for a while, so a crash always cuts some short.
  receiver.reply(() => ({ status: 200, delayMs: 150 }));
  env = await startTestNotifications({
    channels: [{ name: 'hooks', kind: 'webhook', url: receiver.url, secret: newWebhookSecret() }],
    serverEnv: { NOTIFY_WORKER_CONCURRENCY: '10', NOTIFY_DELIVERY_TIMEOUT_MS: '1000', LOG_LEVEL: 'warn' },
  });
});

afterAll(async () => {
  await env?.stop();
  await receiver?.close();
});

/** How many times the receiver got each webhook-id: what a receiver that de-duplicates by it sees once. */
function deliveriesById(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of receiver.requests) {
    const id = String(request.headers['webhook-id']);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

it('loses no accepted notification when the server is killed mid-queue, and counts every re-send', async () => {
  const first = await env.spawnServer();
  const client = await connectMcpClient(first.mcpUrl);
  const ids: string[] = [];
  for (let batch = 0; batch < NOTIFICATIONS / 20; batch++) {
    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        callTool(client, 'send_notification', {
          channel: 'hooks',
          body: `notification ${batch * 20 + n}`,
          idempotencyKey: `crash-${batch * 20 + n}`,
        }),
      ),
    );
    ids.push(...sent.map((outcome) => resultOf<{ id: string }>(outcome).id));
  }
  expect(new Set(ids).size).toBe(NOTIFICATIONS);

  // Killed while some deliveries have reached the receiver but not yet heard its answer.
  await waitUntil(() => receiver.requests.length >= 30 && receiver.unanswered() >= 3);
  const cutShort = receiver.unanswered();
  first.child.kill('SIGKILL');
  await first.exited;
  await client.close().catch(() => undefined);
  const beforeCrash = deliveriesById().size;
  expect(beforeCrash).toBeLessThan(NOTIFICATIONS);

  const second = await env.spawnServer();
  // Done when the server has settled every notification, re-sends of the attempts the crash cut short included.
  await waitUntil(async () => {
    const { rows } = await env.admin(
      `SELECT count(*)::int AS n FROM notifications.notification WHERE status <> 'delivered'`,
    );
    return rows[0]?.n === 0;
  }, 60_000);

  // Every accepted notification arrived, under its own id as webhook-id and nothing else.
  const counts = deliveriesById();
  expect([...counts.keys()].sort()).toEqual([...ids].sort());
  const resent = [...counts.entries()].filter(([, count]) => count > 1);
  const duplicates = resent.reduce((sum, [, count]) => sum + count - 1, 0);
  console.info(
    `crash test: ${beforeCrash} of ${NOTIFICATIONS} arrived before SIGKILL (${cutShort} still unanswered); ` +
      `${duplicates} duplicate deliveries ` +
      `(${resent.length} notifications re-sent after the restart), each under its original webhook-id`,
  );
  // The deliveries cut short by the crash had reached the receiver, and were sent again after the restart.
  expect(duplicates).toBeGreaterThanOrEqual(cutShort);

  // The server counted every attempt: a notification the receiver got n times shows at least n attempts.
  const { rows } = await env.admin('SELECT id::text, attempts FROM notifications.notification');
  const attempts = new Map(rows.map((row: { id: string; attempts: number }) => [row.id, row.attempts]));
  for (const [id, count] of counts) expect(attempts.get(id)).toBeGreaterThanOrEqual(count);
  const [resentId] = resent[0] ?? [];
  const after = await connectMcpClient(second.mcpUrl);
  try {
    const state = resultOf<{ status: string; attempts: number }>(
      await callTool(after, 'get_notification', { id: resentId }),
    );
    expect(state.status).toBe('delivered');
    expect(state.attempts).toBeGreaterThan(1);
  } finally {
    await after.close();
  }
}, 90_000);
