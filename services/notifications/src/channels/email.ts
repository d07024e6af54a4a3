import { createRequire } from 'node:module';
import { ToolError } from '@flotilla/runtime';
import type * as Nodemailer from 'nodemailer';
import type { NodemailerError } from 'nodemailer';
import { type Channel, type ChannelSummary, DeliveryError, type OutgoingNotification } from './channel.js';
import type { EmailChannelConfig } from './channels-file.js';

/** Deliberately strict: no display names, comments or quoted local parts, and nothing that could break a header. */
const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9.-]{1,253})$/;

const UNREACHABLE = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROTOCOL']);

/**
 * nodemailer holds about 5 MB of heap once loaded, and most deployments configure no e-mail
 * channel: it is loaded when the first e-mail channel is built, not at start-up.
 */
const requireAtFirstUse = createRequire(import.meta.url);
let nodemailer: typeof Nodemailer | undefined;
function loadNodemailer(): typeof Nodemailer {
  nodemailer ??= requireAtFirstUse('nodemailer') as typeof Nodemailer;
  return nodemailer;
}

/** SMTP through nodemailer, to recipients in the operator's allowed domains only. */
export class EmailChannel implements Channel {
  readonly summary: ChannelSummary;
  readonly rateLimitPerMinute: number | undefined;
  private readonly transport;

  constructor(
    private readonly config: EmailChannelConfig,
    private readonly timeoutMs: number,
  ) {
    this.summary = {
      name: config.name,
      kind: 'email',
      description: config.description ?? '',
      broadcast: config.broadcast,
    };
    this.rateLimitPerMinute = config.rateLimitPerMinute;
    this.transport = loadNodemailer().createTransport({
      url: config.smtpUrl,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
    });
  }

  checkRecipients(recipients: readonly string[]): void {
    const name = this.config.name;
    if (recipients.length === 0) {
      throw new ToolError('INVALID_ARGUMENT', `Channel ${name} sends e-mail: list at least one address in "to".`);
    }
    const cap = this.config.maxRecipients;
    if (cap !== undefined && recipients.length > cap) {
      throw new ToolError(
        'INVALID_ARGUMENT',
        `Channel ${name} accepts at most ${cap} recipients per notification; got ${recipients.length}. Split the list.`,
      );
    }
    const malformed = recipients.filter((address) => !ADDRESS.test(address));
    if (malformed.length > 0) {
      throw new ToolError(
        'INVALID_ARGUMENT',
        `Not plain e-mail addresses: ${malformed.join(', ')}. Use the form name@example.com, one per entry.`,
      );
    }
    const allowed = this.config.allowedDomains;
    const refused = recipients.filter((address) => !allowed.includes(domainOf(address)));
    if (refused.length > 0) {
      throw new ToolError(
        'FORBIDDEN',
        `Channel ${name} only sends to addresses at ${allowed.join(', ')}; refused: ${refused.join(', ')}.`,
      );
    }
  }

  async deliver(notification: OutgoingNotification, signal: AbortSignal): Promise<void> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    try {
      await this.transport.sendMail({
        from: this.config.from,
        to: [...notification.recipients],
        subject: notification.subject ?? firstLine(notification.body),
        text: notification.body,
        // Stable across attempts, so a mail system that sees a re-sent message can tell.
        messageId: `<${notification.id}@notifications.flotilla>`,
        priority: notification.severity === 'critical' ? 'high' : 'normal',
        headers: { 'X-Flotilla-Notification-Id': notification.id },
        signal: AbortSignal.any([signal, deadline]),
      });
    } catch (error) {
      if (deadline.aborted) throw new DeliveryError(`no answer from the mail server within ${this.timeoutMs} ms`, true);
      if (signal.aborted) throw new DeliveryError('the delivery was interrupted before the mail server answered', true);
      throw smtpFailure(error as NodemailerError);
    }
  }

  close(): void {
    this.transport.close();
  }
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

function firstLine(body: string): string {
  const line = body.split('\n', 1)[0]?.trim() ?? '';
  return line.length > 78 ? `${line.slice(0, 77)}…` : line || 'Notification';
}

/** Only reply codes and error codes: the server's reply text and a socket error's message can name hosts. */
function smtpFailure(error: NodemailerError): DeliveryError {
  if (error.responseCode) {
    const reply = /^\d{3}(?:[ -]\d\.\d{1,3}\.\d{1,3})?/.exec(error.response ?? '')?.[0] ?? String(error.responseCode);
    return error.permanent
      ? new DeliveryError(`the mail server refused the message: SMTP ${reply}`, false)
      : new DeliveryError(`the mail server deferred the message: SMTP ${reply}`, true);
  }
  const code = error.code ?? 'unknown error';
  if (UNREACHABLE.has(code)) return new DeliveryError(`could not reach the mail server (${code})`, true);
  if (code === 'EAUTH' || code === 'ENOAUTH') {
    return new DeliveryError(`the mail server refused the channel's credentials (${code})`, false);
  }
  return new DeliveryError(`the mail server could not take the message (${code})`, false);
}
