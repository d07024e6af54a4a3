import { ToolError } from '@flotilla/runtime';
import type { Channel, ChannelSummary } from './channel.js';
import type { ChannelConfig } from './channels-file.js';
import { EmailChannel } from './email.js';
import { SlackChannel } from './slack.js';
import { WebhookChannel } from './webhook.js';

/** The operator's channels by name: the only way tools and workers reach a destination. */
export class ChannelDirectory {
  private readonly channels: ReadonlyMap<string, Channel>;

  constructor(configs: readonly ChannelConfig[], options: { timeoutMs: number; userAgent: string }) {
    this.channels = new Map(configs.map((config) => [config.name, createChannel(config, options)]));
  }

  list(): ChannelSummary[] {
    return [...this.channels.values()].map((channel) => channel.summary);
  }

  names(): string[] {
    return [...this.channels.keys()];
  }

  /** Undefined for a channel the operator has since removed. */
  get(name: string): Channel | undefined {
    return this.channels.get(name);
  }

  /** The channel a caller named, or NOT_FOUND naming the ones that exist. */
  resolve(name: string): Channel {
    const channel = this.channels.get(name);
    if (!channel) {
      throw new ToolError(
        'NOT_FOUND',
        `No channel named "${name}". Available channels: ${this.names().join(', ')}; list_channels describes them.`,
      );
    }
    return channel;
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
  }
}

function createChannel(config: ChannelConfig, options: { timeoutMs: number; userAgent: string }): Channel {
  switch (config.kind) {
    case 'webhook':
      return new WebhookChannel(config, options.timeoutMs, options.userAgent);
    case 'slack':
      return new SlackChannel(config, options.timeoutMs, options.userAgent);
    case 'email':
      return new EmailChannel(config, options.timeoutMs);
  }
}
