import { callTool, connectMcpClient, errorOf, freePort, resultOf } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isFinal,
  newWebhookSecret,
  startTestNotifications,
  type TestNotifications,
  waitForNotification,
} from './testing/harness.js';
import {
  type HttpReceiver,
  SMTP_USER,
  type SmtpReceiver,
  startHttpReceiver,
  startSmtpReceiver,
  waitUntil,
} from './testing/receivers.js';

const secret = newWebhookSecret();
let env: TestNotifications;
let hooks: HttpReceiver;
let flaky: HttpReceiver;
let slack: HttpReceiver;
let smtp: SmtpReceiver;
let client: Client;
let adminUrl: string;
let keys = 0;
const key = () => `delivery-${++keys}`;

beforeAll(async () => {
  [hooks, flaky, slack, smtp] = await Promise.all([
    startHttpReceiver(),
    startHttpReceiver(),
    startHttpReceiver(),
    startSmtpReceiver(),
  ]);
  // Nothing listens there: every attempt is refused.
  const closedPort = await freePort();
  env = await startTestNotifications({
    channels: [
      { name: 'hooks', kind: 'webhook', url: hooks.url, secret, description: 'The ops event bus.' },
      { name: 'flaky', kind: 'webhook', url: flaky.url, secret },
      { name: 'team', kind: 'slack', url: slack.url, description: 'The #ops Slack channel.' },
      {
        name: 'mail',
        kind: 'email',
        smtpUrl: smtp.url,
        from: 'Flotilla <flotilla@example.com>',
        allowedDomains: ['example.com', 'Example.org'],
      },
      { name: 'nowhere', kind: 'webhook', url: `http://127.0.0.1:${closedPort}/secret-path`, secret },
      { name: 'dead', kind: 'webhook', url: `http://127.0.0.1:${closedPort}/`, secret },
    ],
    // Below the circuit breaker's threshold of 5, so one notification never opens it on its own.
    serverEnv: { NOTIFY_MAX_ATTEMPTS: '4' },
  });
  const server = await env.startServer();
  adminUrl = server.adminUrl;
  client = await connectMcpClient(server.mcpUrl);
});

afterAll(async () => {
  await client?.close();
  await env?.stop();
  await Promise.all([hooks?.close(), flaky?.close(), slack?.close(), smtp?.close()]);
});

async function send(args: Record<string, unknown>) {
  return resultOf<{ id: string; status: string }>(
    await callTool(client, 'send_notification', { idempotencyKey: key(), ...args }),
  );
}

describe('webhook delivery', () => {
  it('posts a payload signed per Standard Webhooks, with the notification id as webhook-id', async () => {
    const before = hooks.requests.length;
    const { id, status } = await send({ channel: 'hooks', subject: 'Deploy done', body: 'v42 is live', to: ['ops'] });
    expect(status).toBe('queued');
    const [request] = (await hooks.waitFor(before + 1)).slice(before);
    if (!request) throw new Error('no request');
    expect(request.headers['webhook-id']).toBe(id);
    const payload = new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as {
      type: string;
      data: Record<string, unknown>;
    };
    expect(payload.type).toBe('notification');
    expect(payload.data).toMatchObject({
      id,
      channel: 'hooks',
      subject: 'Deploy done',
      body: 'v42 is live',
      severity: 'info',
      recipients: ['ops'],
      tenant: 'local',
    });
    // A different key must not verify: the signature is really over this payload with this secret.
    expect(() =>
      new Webhook(newWebhookSecret()).verify(request.body, request.headers as Record<string, string>),
    ).toThrow();
    const state = await waitForNotification(client, id, isFinal);
    expect(state).toMatchObject({ status: 'delivered', attempts: 1, lastError: null });
    expect(state.deliveredAt).not.toBeNull();
  });

  it('retries 503 three times with backoff and then delivers once, after 4 attempts', async () => {
    flaky.reply((_request, index) => (index < 3 ? { status: 503 } : { status: 200 }));
    const { id } = await send({ channel: 'flaky', body: 'eventually' });
    const state = await waitForNotification(client, id, isFinal);
    expect(state).toMatchObject({ status: 'delivered', attempts: 4, lastError: null });
    const requests = flaky.requests.filter((request) => request.headers['webhook-id'] === id);
    expect(requests).toHaveLength(4);
    // Exponential: each wait at least half the doubled base (50 ms, 100 ms, 200 ms with equal jitter).
    const gaps = requests.slice(1).map((request, index) => request.at - (requests[index]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(25);
    expect(gaps[2]).toBeGreaterThanOrEqual(100);
  });

  it('honours Retry-After on 429', async () => {
    flaky.requests.length = 0;
    flaky.reply((_request, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 },
    );
    const { id } = await send({ channel: 'flaky', body: 'later, please' });
    const retrying = await waitForNotification(client, id, (state) => state.status === 'retrying');
    expect(retrying.lastError).toContain('HTTP 429');
    await waitForNotification(client, id, isFinal);
    const [first, second] = flaky.requests;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1900);
  });

  it('fails at once on 400, after one attempt, with the reason', async () => {
    flaky.requests.length = 0;
    flaky.reply(() => ({ status: 400 }));
    const { id } = await send({ channel: 'flaky', body: 'malformed for this receiver' });
    const state = await waitForNotification(client, id, isFinal);
    expect(state).toMatchObject({ status: 'failed', attempts: 1 });
    expect(state.lastError).toContain('HTTP 400');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(flaky.requests).toHaveLength(1);
  });

  it('never follows a redirect: a 3xx is a permanent failure', async () => {
    flaky.requests.length = 0;
    flaky.reply(() => ({ status: 302, headers: { location: `${hooks.url}/elsewhere` } }));
    const before = hooks.requests.length;
    const { id } = await send({ channel: 'flaky', body: 'no detours' });
    const state = await waitForNotification(client, id, isFinal);
    expect(state).toMatchObject({ status: 'failed', attempts: 1 });
    expect(state.lastError).toContain('redirect');
    expect(hooks.requests).toHaveLength(before);
  });

  it('gives up after NOTIFY_MAX_ATTEMPTS and names neither the URL nor the host in the error', async () => {
    const { id } = await send({ channel: 'nowhere', body: 'unreachable' });
    const state = await waitForNotification(client, id, isFinal);
    expect(state).toMatchObject({ status: 'failed', attempts: 4 });
    expect(state.lastError).toMatch(/could not reach the receiver \(ECONNREFUSED\).*gave up after 4 attempts/);
    const text = JSON.stringify(await callTool(client, 'get_notification', { id }));
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain('secret-path');
  });
});

describe('the circuit breaker', () => {
  it('pauses a channel after 5 consecutive failures without counting the skipped attempts', async () => {
    const sent = await Promise.all([send({ channel: 'dead', body: 'one' }), send({ channel: 'dead', body: 'two' })]);
    const paused = await Promise.race(
      sent.map(({ id }) => waitForNotification(client, id, (state) => state.lastError?.includes('paused') ?? false)),
    );
    expect(paused.status).toBe('retrying');
    expect(paused.attempts).toBeLessThan(4);
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    expect(text).toMatch(/flotilla_circuit_open\{dependency="channel:dead"[^}]*\} 1/);
    expect(text).toMatch(/flotilla_circuit_open\{dependency="channel:hooks"[^}]*\} 0/);
  });
});

describe('slack delivery', () => {
  it('posts the incoming-webhook payload, with text escaped so it cannot mention @channel', async () => {
    const { id } = await send({
      channel: 'team',
      subject: 'Disk <full>',
      body: 'Ping <!channel> & fix',
      severity: 'critical',
    });
    const [request] = await slack.waitFor(1);
    expect(JSON.parse(request?.body ?? '{}')).toEqual({
      text: ':rotating_light: *Disk &lt;full&gt;*\nPing &lt;!channel&gt; &amp; fix',
    });
    expect(await waitForNotification(client, id, isFinal)).toMatchObject({ status: 'delivered' });
  });

  it('refuses recipients: a Slack webhook posts to one fixed conversation', async () => {
    const error = errorOf(
      await callTool(client, 'send_notification', { channel: 'team', to: ['@bob'], body: 'x', idempotencyKey: key() }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('omit "to"');
  });
});

describe('email delivery', () => {
  it('sends to an allowed domain through the SMTP server, logging in with the channel credentials', async () => {
    const { id } = await send({
      channel: 'mail',
      to: ['alice@example.com', 'bob@EXAMPLE.ORG'],
      subject: 'Quarterly report',
      body: 'It is ready.',
    });
    const [mail] = await smtp.waitFor(1);
    // Domains are case-insensitive; nodemailer sends them lower-cased.
    expect(mail).toMatchObject({ from: 'flotilla@example.com', to: ['alice@example.com', 'bob@example.org'] });
    expect(mail?.user).toBe(SMTP_USER);
    expect(mail?.raw).toContain('Subject: Quarterly report');
    expect(mail?.raw).toContain('It is ready.');
    expect(mail?.raw).toContain(`Message-ID: <${id}@notifications.flotilla>`);
    expect(await waitForNotification(client, id, isFinal)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('refuses recipients outside the allowed domains before accepting anything', async () => {
    const error = errorOf(
      await callTool(client, 'send_notification', {
        channel: 'mail',
        to: ['alice@example.com', 'mallory@evil.test'],
        body: 'x',
        idempotencyKey: key(),
      }),
    );
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toContain('mallory@evil.test');
    expect(error.message).toContain('example.com, example.org');
    const { notifications } = resultOf<{ notifications: unknown[] }>(
      await callTool(client, 'list_notifications', { channel: 'mail', status: 'failed' }),
    );
    expect(notifications).toHaveLength(0);
  });
});

describe('scheduling and cancelling', () => {
  it('holds a notification until sendAt', async () => {
    const before = hooks.requests.length;
    const sendAt = new Date(Date.now() + 2000);
    const { id, status } = await send({
      channel: 'hooks',
      body: 'at the top of the hour',
      sendAt: sendAt.toISOString(),
    });
    expect(status).toBe('scheduled');
    const state = await waitForNotification(client, id, isFinal);
    expect(state.status).toBe('delivered');
    const request = hooks.requests.slice(before).find((candidate) => candidate.headers['webhook-id'] === id);
    expect(request?.at).toBeGreaterThanOrEqual(sendAt.getTime() - 50);
  });

  it('lets a cancel win before the send, and the receiver never hears of it', async () => {
    const { id } = await send({
      channel: 'hooks',
      body: 'never mind',
      sendAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect(resultOf(await callTool(client, 'cancel_notification', { id }))).toEqual({ id, status: 'cancelled' });
    // Cancelling again is harmless.
    expect(resultOf(await callTool(client, 'cancel_notification', { id }))).toEqual({ id, status: 'cancelled' });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(hooks.requests.some((request) => request.headers['webhook-id'] === id)).toBe(false);
    expect(resultOf(await callTool(client, 'get_notification', { id }))).toMatchObject({
      status: 'cancelled',
      attempts: 0,
    });
  });

  it('reports that a cancel lost once the notification was delivered', async () => {
    const { id } = await send({ channel: 'hooks', body: 'too late to stop' });
    await waitForNotification(client, id, isFinal);
    const error = errorOf(await callTool(client, 'cancel_notification', { id }));
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toContain('already delivered');
  });
});

describe('metrics', () => {
  it('counts deliveries and attempts per channel and exposes the queue gauges', async () => {
    await waitUntil(async () => {
      const text = await (await fetch(`${adminUrl}/metrics`)).text();
      return text.includes('flotilla_notifications_queue_depth');
    });
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    expect(text).toMatch(/flotilla_notifications_deliveries_total\{channel="hooks",outcome="delivered"[^}]*\} [1-9]/);
    expect(text).toMatch(/flotilla_notifications_deliveries_total\{channel="flaky",outcome="failed"[^}]*\} [1-9]/);
    expect(text).toMatch(/flotilla_notifications_delivery_attempts_total\{channel="flaky"[^}]*\} ([5-9]|\d\d)/);
    expect(text).toMatch(/flotilla_notifications_queue_depth\{[^}]*\} \d+/);
    expect(text).toMatch(/flotilla_notifications_oldest_pending_seconds\{[^}]*\} [\d.]+/);
    const readyz = await (await fetch(`${adminUrl}/readyz`)).json();
    expect(readyz).toMatchObject({
      status: 'ready',
      dependencies: { postgres: { status: 'up' }, workers: { status: 'up' } },
    });
  });
});
