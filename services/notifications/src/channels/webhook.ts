import { ToolError } from '@flotilla/runtime';
import { Webhook } from 'standardwebhooks';
import type { Channel, ChannelSummary, OutgoingNotification } from './channel.js';
import type { WebhookChannelConfig } from './channels-file.js';
import { postJson } from './http-post.js';

/**
 * An HTTP POST signed per the Standard Webhooks spec. The notification id is the `webhook-id` of
 * every attempt, so a receiver that de-duplicates by it sees each notification once even when a
 * crash makes the server send it again.
 */
export class WebhookChannel implements Channel {
  readonly summary: ChannelSummary;
  readonly rateLimitPerMinute: number | undefined;
  private readonly signer: Webhook;

  constructor(
    private readonly config: WebhookChannelConfig,
    private readonly timeoutMs: number,
    private readonly userAgent: string,
  ) {
    this.summary = {
      name: config.name,
      kind: 'webhook',
      description: config.description ?? '',
      broadcast: config.broadcast,
    };
    this.rateLimitPerMinute = config.rateLimitPerMinute;
    this.signer = new Webhook(config.secret);
  }

  checkRecipients(recipients: readonly string[]): void {
    const allowed = this.config.allowedRecipients;
    if (!allowed) return;
    const refused = recipients.filter((recipient) => !allowed.includes(recipient));
    if (refused.length > 0) {
      throw new ToolError(
        'FORBIDDEN',
        `Channel ${this.config.name} does not accept the recipient(s) ${refused.join(', ')}; ` +
          `it accepts only: ${allowed.join(', ')}.`,
      );
    }
  }

  async deliver(notification: OutgoingNotification, signal: AbortSignal): Promise<void> {
    const sentAt = new Date();
    const body = JSON.stringify({
      type: 'notification',
      timestamp: sentAt.toISOString(),
      data: {
        id: notification.id,
        tenant: notification.tenant,
        channel: notification.channel,
        severity: notification.severity,
        subject: notification.subject,
        body: notification.body,
        recipients: notification.recipients,
        createdAt: notification.createdAt.toISOString(),
      },
    });
    await postJson({
      url: this.config.url,
      body,
      headers: {
        'user-agent': this.userAgent,
        'webhook-id': notification.id,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': this.signer.sign(notification.id, sentAt, body),
      },
      timeoutMs: this.timeoutMs,
      signal,
    });
  }

  close(): void {}
}
