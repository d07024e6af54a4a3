/**
 * The webhook receiver, as its own process (started by receiver.ts with an IPC channel), so the CPU
 * it spends verifying signatures is neither the server's nor the load generator's. It verifies every
 * delivery with the Standard Webhooks library and the channel's secret, checks that the payload's
 * id is the `webhook-id`, and keeps, per notification id, when its first verified delivery arrived.
 *
 * Environment: WEBHOOK_SECRET (whsec_…). It answers 204 to a verified delivery and 400 to one that
 * fails verification (which the server treats as final, so nothing is retried into the count).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Webhook } from 'standardwebhooks';
import type { ReceiverReply, ReceiverRequest } from './receiver.ts';

const secret = process.env.WEBHOOK_SECRET;
if (!secret || !process.send) {
  process.stderr.write('webhook-receiver: needs WEBHOOK_SECRET and an IPC channel (start it with receiver.ts)\n');
  process.exit(1);
}
const webhook = new Webhook(secret);
const send = process.send.bind(process);

/** Every id ever verified, so a second delivery of one is counted however late it comes. */
const seen = new Set<string>();
/** First deliveries not yet handed to the benchmark: ids and arrival times (ms since the Unix epoch). */
let newIds: string[] = [];
let newTimes: number[] = [];
let duplicates = 0;
let failures = 0;
let firstFailure: string | undefined;

function fail(why: string): void {
  failures += 1;
  firstFailure ??= why;
}

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    // The delivery's time is when it has fully arrived, before the receiver's own work.
    const arrivedAt = performance.timeOrigin + performance.now();
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = {
      'webhook-id': String(request.headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(request.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(request.headers['webhook-signature'] ?? ''),
    };
    let id: unknown;
    try {
      id = (webhook.verify(body, headers) as { data?: { id?: unknown } }).data?.id;
    } catch (error) {
      fail(`signature: ${(error as Error).message}`);
      response.writeHead(400).end();
      return;
    }
    if (typeof id !== 'string' || id !== headers['webhook-id']) {
      fail(`payload id ${String(id)} is not the webhook-id ${headers['webhook-id']}`);
      response.writeHead(400).end();
      return;
    }
    if (seen.has(id)) {
      duplicates += 1;
    } else {
      seen.add(id);
      newIds.push(id);
      newTimes.push(arrivedAt);
    }
    response.writeHead(204).end();
  });
});
// Longer than undici's keep-alive, so the server's delivery connections are reused rather than raced.
server.keepAliveTimeout = 60_000;

process.on('message', (message: ReceiverRequest) => {
  if (message.type === 'status') {
    send({ type: 'status', verified: seen.size, duplicates, failures, firstFailure } satisfies ReceiverReply);
  } else if (message.type === 'take') {
    send({ type: 'deliveries', ids: newIds, times: newTimes } satisfies ReceiverReply);
    newIds = [];
    newTimes = [];
  }
});
// The benchmark going away (or closing the channel) ends the receiver.
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  send({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies ReceiverReply);
});
