import { callTool, connectMcpClient, errorOf, mintApiKey, resultOf, writeApiKeysFile } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isFinal,
  newWebhookSecret,
  startTestNotifications,
  type TestNotifications,
  waitForNotification,
} from './testing/harness.js';
import { type HttpReceiver, SMTP_PASSWORD, startHttpReceiver } from './testing/receivers.js';

const secret = newWebhookSecret();
const alice = mintApiKey({ subject: 'alice', tenant: 'acme', scopes: ['notify:read', 'notify:send'] });
const bob = mintApiKey({ subject: 'bob', tenant: 'globex', scopes: ['notify:read', 'notify:send'] });
const herald = mintApiKey({
  subject: 'herald',
  tenant: 'acme',
  scopes: ['notify:read', 'notify:send', 'notify:broadcast'],
});
const reader = mintApiKey({ subject: 'reader', tenant: 'acme', scopes: ['notify:read'] });

let env: TestNotifications;
let receiver: HttpReceiver;
let mcpUrls: string[];
const clients: Client[] = [];

async function connect(token: string, url = mcpUrls[0] ?? ''): Promise<Client> {
  const client = await connectMcpClient(url, { token });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  receiver = await startHttpReceiver();
  env = await startTestNotifications({
    channels: [
      { name: 'hooks', kind: 'webhook', url: receiver.url, secret, description: 'The ops event bus.' },
      {
        name: 'pager',
        kind: 'webhook',
        url: `${receiver.url}/pager`,
        secret,
        allowedRecipients: ['oncall-primary', 'oncall-secondary'],
        rateLimitPerMinute: 2,
      },
      { name: 'everyone', kind: 'slack', url: `${receiver.url}/slack`, broadcast: true, description: '#all-hands' },
      {
        name: 'mail',
        kind: 'email',
        smtpUrl: `smtp://mailer:${SMTP_PASSWORD}@127.0.0.1:1`,
        from: 'flotilla@example.com',
        allowedDomains: ['example.com'],
        maxRecipients: 3,
      },
    ],
  });
  const keysFile = await writeApiKeysFile([alice.entry, bob.entry, herald.entry, reader.entry]);
  const auth = { AUTH_MODE: 'api-key', AUTH_API_KEYS_FILE: keysFile };
  // Two replicas on one Postgres, as a Deployment with two pods would be.
  const servers = await Promise.all([env.startServer(auth), env.startServer(auth)]);
  mcpUrls = servers.map((server) => server.mcpUrl);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await env?.stop();
  await receiver?.close();
});

describe('list_channels', () => {
  it('shows name, kind, description and broadcast, and never a URL, secret or SMTP credential', async () => {
    const client = await connect(alice.key);
    const outcome = await callTool(client, 'list_channels', {});
    expect(resultOf(outcome)).toEqual({
      channels: [
        { name: 'hooks', kind: 'webhook', description: 'The ops event bus.', broadcast: false },
        { name: 'pager', kind: 'webhook', description: '', broadcast: false },
        { name: 'everyone', kind: 'slack', description: '#all-hands', broadcast: true },
        { name: 'mail', kind: 'email', description: '', broadcast: false },
      ],
    });
    const text = JSON.stringify(outcome);
    for (const leak of [receiver.url, '127.0.0.1', secret, SMTP_PASSWORD, 'smtp://']) {
      expect(text).not.toContain(leak);
    }
  });

  it('offers read tools only to a caller with notify:read alone', async () => {
    const { tools } = await (await connect(reader.key)).listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['get_notification', 'list_channels', 'list_notifications']);
  });
});

describe('tools/list', () => {
  it('keeps every tool schema in a reviewed snapshot, so a schema change shows up in review', async () => {
    const { tools } = await (await connect(herald.key)).listTools();
    await expect(`${JSON.stringify(tools, null, 2)}\n`).toMatchFileSnapshot('./__snapshots__/tools-list.json');
  });

  it('declares truthful annotations', async () => {
    const { tools } = await (await connect(herald.key)).listTools();
    const annotations = Object.fromEntries(tools.map((tool) => [tool.name, tool.annotations]));
    for (const name of ['list_channels', 'get_notification', 'list_notifications']) {
      expect(annotations[name]).toMatchObject({ readOnlyHint: true, destructiveHint: false, openWorldHint: false });
    }
    // It reaches systems outside this server, and a repeated key sends nothing new.
    expect(annotations.send_notification).toMatchObject({
      readOnlyHint: false,
      idempotentHint: true,
      openWorldHint: true,
    });
    expect(annotations.cancel_notification).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });
});

describe('input validation', () => {
  it('requires an idempotencyKey and names the problem', async () => {
    const error = errorOf(
      await callTool(await connect(alice.key), 'send_notification', { channel: 'hooks', body: 'x' }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('idempotencyKey');
  });

  it('refuses unknown properties, such as a URL the caller wants to send to', async () => {
    const error = errorOf(
      await callTool(await connect(alice.key), 'send_notification', {
        channel: 'hooks',
        body: 'x',
        idempotencyKey: 'k-url',
        url: 'https://attacker.example/collect',
      }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/url/);
  });

  it('explains a malformed sendAt, severity and id', async () => {
    const client = await connect(alice.key);
    const sendAt = errorOf(
      await callTool(client, 'send_notification', {
        channel: 'hooks',
        body: 'x',
        idempotencyKey: 'k-when',
        sendAt: 'tomorrow',
      }),
    );
    expect(sendAt.message).toContain('sendAt');
    const severity = errorOf(
      await callTool(client, 'send_notification', {
        channel: 'hooks',
        body: 'x',
        idempotencyKey: 'k-sev',
        severity: 'apocalyptic',
      }),
    );
    expect(severity.message).toMatch(/severity.*info.*warning.*critical/);
    const id = errorOf(await callTool(client, 'get_notification', { id: 'not-a-uuid' }));
    expect(id).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('answers an unknown channel with the channels that exist', async () => {
    const error = errorOf(
      await callTool(await connect(alice.key), 'send_notification', {
        channel: 'sms',
        body: 'x',
        idempotencyKey: 'k-sms',
      }),
    );
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('hooks, pager, everyone, mail');
  });

  it('enforces a channel’s recipient allow-list and recipient cap', async () => {
    const client = await connect(alice.key);
    const refused = errorOf(
      await callTool(client, 'send_notification', {
        channel: 'pager',
        to: ['oncall-primary', 'ceo'],
        body: 'x',
        idempotencyKey: 'k-ceo',
      }),
    );
    expect(refused.code).toBe('FORBIDDEN');
    expect(refused.message).toContain('ceo');
    const tooMany = errorOf(
      await callTool(client, 'send_notification', {
        channel: 'mail',
        to: ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com'],
        body: 'x',
        idempotencyKey: 'k-many',
      }),
    );
    expect(tooMany).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(tooMany.message).toContain('at most 3 recipients');
  });

  it('refuses sendAt more than 30 days ahead', async () => {
    const error = errorOf(
      await callTool(await connect(alice.key), 'send_notification', {
        channel: 'hooks',
        body: 'x',
        idempotencyKey: 'k-far',
        sendAt: new Date(Date.now() + 40 * 86_400_000).toISOString(),
      }),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(error.message).toContain('30 days');
  });
});

describe('the mass-send guard', () => {
  const crowd = Array.from({ length: 11 }, (_, index) => `user-${index}`);

  it('refuses more than NOTIFY_MAX_RECIPIENTS recipients without notify:broadcast, naming the scope', async () => {
    const error = errorOf(
      await callTool(await connect(alice.key), 'send_notification', {
        channel: 'hooks',
        to: crowd,
        body: 'hello all',
        idempotencyKey: 'k-crowd',
      }),
    );
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toContain('notify:broadcast');
    expect(error.message).toContain('11 recipients');
  });

  it('refuses a broadcast channel without notify:broadcast', async () => {
    const error = errorOf(
      await callTool(await connect(alice.key), 'send_notification', {
        channel: 'everyone',
        body: 'hello all',
        idempotencyKey: 'k-everyone',
      }),
    );
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toContain('notify:broadcast');
  });

  it('lets a caller with notify:broadcast do both', async () => {
    const client = await connect(herald.key);
    for (const args of [
      { channel: 'hooks', to: crowd, idempotencyKey: 'k-herald-crowd' },
      { channel: 'everyone', idempotencyKey: 'k-herald-everyone' },
    ]) {
      expect(resultOf(await callTool(client, 'send_notification', { ...args, body: 'hello all' }))).toMatchObject({
        status: 'queued',
      });
    }
  });

  it('advertises notify:broadcast in the 401 challenge', async () => {
    const response = await fetch(mcpUrls[0] ?? '', { method: 'POST', body: '{}' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('notify:broadcast');
  });
});

describe('tenancy', () => {
  it('never lets one tenant get, list or cancel another tenant’s notification', async () => {
    const acme = await connect(alice.key);
    const globex = await connect(bob.key);
    const { id } = resultOf<{ id: string }>(
      await callTool(acme, 'send_notification', {
        channel: 'hooks',
        body: 'acme internal',
        idempotencyKey: 'k-tenancy',
        sendAt: new Date(Date.now() + 60_000).toISOString(),
      }),
    );
    expect(errorOf(await callTool(globex, 'get_notification', { id })).code).toBe('NOT_FOUND');
    expect(errorOf(await callTool(globex, 'cancel_notification', { id })).code).toBe('NOT_FOUND');
    const listed = resultOf<{ notifications: { id: string }[] }>(await callTool(globex, 'list_notifications', {}));
    expect(listed.notifications.map((notification) => notification.id)).not.toContain(id);
    // The same key is another tenant's own: a new notification, not a conflict or a replay.
    const theirs = resultOf<{ id: string }>(
      await callTool(globex, 'send_notification', {
        channel: 'hooks',
        body: 'globex internal',
        idempotencyKey: 'k-tenancy',
        sendAt: new Date(Date.now() + 60_000).toISOString(),
      }),
    );
    expect(theirs.id).not.toBe(id);
    expect(resultOf(await callTool(acme, 'get_notification', { id }))).toMatchObject({ status: 'scheduled' });
    expect(resultOf(await callTool(acme, 'cancel_notification', { id }))).toMatchObject({ status: 'cancelled' });
  });
});

describe('list_notifications', () => {
  it('pages newest first with a cursor, filtered by channel and status', async () => {
    const client = await connect(bob.key);
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const sent = resultOf<{ id: string }>(
        await callTool(client, 'send_notification', {
          channel: 'hooks',
          body: `page ${n}`,
          idempotencyKey: `k-page-${n}`,
          sendAt: new Date(Date.now() + 60_000).toISOString(),
        }),
      );
      ids.push(sent.id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = resultOf<{ notifications: { id: string; status: string }[]; nextCursor: string | null }>(
        await callTool(client, 'list_notifications', {
          channel: 'hooks',
          status: 'scheduled',
          limit: 2,
          ...(cursor ? { cursor } : {}),
        }),
      );
      expect(page.notifications.length).toBeLessThanOrEqual(2);
      seen.push(...page.notifications.map((notification) => notification.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    // Bob's earlier scheduled notification from the tenancy test comes last.
    expect(seen.slice(0, 5)).toEqual([...ids].reverse());
    const bad = errorOf(await callTool(client, 'list_notifications', { cursor: 'bm90LWEtY3Vyc29y' }));
    expect(bad).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('idempotency', () => {
  it('turns 20 concurrent sends with one key, through two replicas, into one id and one delivery', async () => {
    const replicas = await Promise.all(mcpUrls.map((url) => connect(alice.key, url)));
    const args = { channel: 'hooks', subject: 'Once', body: 'exactly once', idempotencyKey: 'k-once' };
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, n) => callTool(replicas[n % 2] as Client, 'send_notification', args)),
    );
    const ids = new Set(outcomes.map((outcome) => resultOf<{ id: string }>(outcome).id));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    await waitForNotification(replicas[0] as Client, id ?? '', isFinal);
    // Room for a second delivery to show up, were there one.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(receiver.requests.filter((request) => request.headers['webhook-id'] === id)).toHaveLength(1);
    const rows = await env.admin(
      `SELECT count(*)::int AS n FROM notifications.notification WHERE idempotency_key = 'k-once'`,
    );
    expect(rows.rows[0]).toEqual({ n: 1 });
    // Later, from the other replica, the same call still answers with the same id.
    const again = resultOf<{ id: string; status: string }>(
      await callTool(replicas[1] as Client, 'send_notification', args),
    );
    expect(again).toEqual({ id, status: 'delivered' });
  });

  it('stores neither the notification nor its job when the job cannot be stored, and the key stays free', async () => {
    const client = await connect(alice.key);
    // pg-boss's job insert fails for this notification only: the trigger looks for its row, which the
    // same transaction inserted just before, so every other test's jobs go through.
    await env.admin(`
      CREATE FUNCTION public.refuse_poisoned_job() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM notifications.notification WHERE id::text = NEW.data->>'notificationId'
                     AND body = 'poisoned job') THEN
          RAISE EXCEPTION 'job refused by the test';
        END IF;
        RETURN NEW;
      END $$`);
    await env.admin(`CREATE TRIGGER refuse_poisoned_job BEFORE INSERT ON notifications_queue.job
                     FOR EACH ROW EXECUTE FUNCTION public.refuse_poisoned_job()`);
    const args = { channel: 'hooks', body: 'poisoned job', idempotencyKey: 'k-poisoned' };
    try {
      const refused = errorOf(await callTool(client, 'send_notification', args));
      expect(refused.code).toBe('INTERNAL');
      expect(refused.message).not.toContain('job refused by the test');
      const stored = await env.admin(
        `SELECT count(*)::int AS n FROM notifications.notification WHERE idempotency_key = 'k-poisoned'`,
      );
      expect(stored.rows[0]).toEqual({ n: 0 });
    } finally {
      await env.admin('DROP TRIGGER refuse_poisoned_job ON notifications_queue.job');
      await env.admin('DROP FUNCTION public.refuse_poisoned_job()');
    }
    // Nothing was kept under the key: the retry is a new notification, and it is delivered.
    const sent = resultOf<{ id: string }>(await callTool(client, 'send_notification', args));
    expect((await waitForNotification(client, sent.id, isFinal)).status).toBe('delivered');
  });

  it('refuses the same key with different content as a CONFLICT', async () => {
    const client = await connect(alice.key);
    const first = {
      channel: 'hooks',
      body: 'v1',
      idempotencyKey: 'k-changed',
      sendAt: new Date(Date.now() + 60_000).toISOString(),
    };
    const { id } = resultOf<{ id: string }>(await callTool(client, 'send_notification', first));
    const error = errorOf(await callTool(client, 'send_notification', { ...first, body: 'v2' }));
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toContain(id);
  });
});

describe('per-channel rate limit', () => {
  it('refuses a third notification a minute on a channel limited to two, with retryAfterMs', async () => {
    const client = await connect(alice.key);
    const send = (n: number) =>
      callTool(client, 'send_notification', {
        channel: 'pager',
        to: ['oncall-primary'],
        body: `page ${n}`,
        idempotencyKey: `k-rl-${n}`,
      });
    resultOf(await send(1));
    resultOf(await send(2));
    const error = errorOf(await send(3)) as { code: string; message: string; retryAfterMs?: number };
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    // A replay of an accepted send is not a new notification and spends nothing.
    expect(resultOf(await send(1))).toMatchObject({ status: expect.any(String) });
  });
});
