import { ToolError } from '@flotilla/runtime';
import type { Channel, ChannelSummary, OutgoingNotification, Severity } from './channel.js';
import type { SlackChannelConfig } from './channels-file.js';
import { postJson } from './http-post.js';

const SEVERITY_PREFIX: Record<Severity, string> = {
  info: '',
  warning: ':warning: ',
  critical: ':rotating_light: ',
};

/** A Slack incoming webhook: one fixed conversation, chosen by the operator with the URL. */
export class SlackChannel implements Channel {
  readonly summary: ChannelSummary;
  readonly rateLimitPerMinute: number | undefined;

  constructor(
    private readonly config: SlackChannelConfig,
    private readonly timeoutMs: number,
    private readonly userAgent: string,
  ) {
    this.summary = {
      name: config.name,
      kind: 'slack',
      description: config.description ?? '',
      broadcast: config.broadcast,
    };
    this.rateLimitPerMinute = config.rateLimitPerMinute;
  }

  checkRecipients(recipients: readonly string[]): void {
    if (recipients.length > 0) {
      throw new ToolError(
        'INVALID_ARGUMENT',
        `Channel ${this.config.name} posts to one Slack conversation chosen by the operator; omit "to".`,
      );
    }
  }

  async deliver(notification: OutgoingNotification, signal: AbortSignal): Promise<void> {
    const heading = notification.subject ? `*${escapeMrkdwn(notification.subject)}*\n` : '';
    const text = `${SEVERITY_PREFIX[notification.severity]}${heading}${escapeMrkdwn(notification.body)}`;
    await postJson({
      url: this.config.url,
      body: JSON.stringify({ text }),
      headers: { 'user-agent': this.userAgent },
      timeoutMs: this.timeoutMs,
      signal,
    });
  }

  close(): void {}
}

/**
 * Slack reads `<…>` as links and mentions; escaped, an agent's text can never ping @channel or
 * disguise a link.
 */
function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
