import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  /** Milliseconds since the epoch when the request arrived. */
  at: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Hold the answer back this long, as a slow receiver does. */
  delayMs?: number;
}

/** A real HTTP receiver standing in for a webhook endpoint or a Slack incoming webhook. */
export interface HttpReceiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** How to answer the request numbered `index` (0-based); 200 at once unless set. */
  reply(answer: (request: ReceivedRequest, index: number) => Reply): void;
  /** Requests received whose answer is still held back: the sender cannot know they arrived. */
  unanswered(): number;
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startHttpReceiver(): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  let answer: (request: ReceivedRequest, index: number) => Reply = () => ({ status: 200 });
  let unanswered = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      const index = requests.push(request) - 1;
      const { status, headers = {}, delayMs = 0 } = answer(request, index);
      unanswered += 1;
      const timer = setTimeout(() => res.writeHead(status, headers).end(status < 300 ? 'ok' : 'nope'), delayMs);
      res.on('close', () => {
        unanswered -= 1;
        clearTimeout(timer);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/${randomBytes(4).toString('hex')}`,
    requests,
    reply(next) {
      answer = next;
    },
    unanswered: () => unanswered,
    waitFor: (count, timeoutMs = 15_000) => waitUntil(() => requests.length >= count, timeoutMs).then(() => requests),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The raw message, headers and body. */
  raw: string;
  /** The credentials the client logged in with. */
  user: string | undefined;
}

/** A real SMTP server (smtp-server) that keeps every message it accepts. */
export interface SmtpReceiver {
  /** With the user and password the server requires. */
  readonly url: string;
  readonly messages: ReceivedMail[];
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

export const SMTP_USER = 'mailer';
export const SMTP_PASSWORD = 'smtp-secret-password';

export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const messages: ReceivedMail[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) callback(null, { user: auth.username });
      else callback(new Error('invalid credentials'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((recipient) => recipient.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          user: session.user as string | undefined,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://${SMTP_USER}:${SMTP_PASSWORD}@127.0.0.1:${port}`,
    messages,
    waitFor: (count, timeoutMs = 15_000) => waitUntil(() => messages.length >= count, timeoutMs).then(() => messages),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
