export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type ChannelKind = 'webhook' | 'slack' | 'email';

/** One accepted notification as a channel delivers it. */
export interface OutgoingNotification {
  id: string;
  tenant: string;
  channel: string;
  recipients: readonly string[];
  subject: string | null;
  body: string;
  severity: Severity;
  createdAt: Date;
}

/**
 * Why one delivery attempt failed. `reason` is shown to the model (get_notification's lastError),
 * so it names the receiver's answer or a network error code and never a URL, host or credential.
 */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
  constructor(
    readonly reason: string,
    /** 429, 5xx, timeouts and network failures are worth another attempt; anything else is final. */
    readonly retryable: boolean,
    /** What the receiver asked for (Retry-After), when it did. */
    readonly retryAfterMs?: number,
  ) {
    super(reason);
  }
}

/** What agents may know about a channel: never its URL, secret or SMTP credentials. */
export interface ChannelSummary {
  name: string;
  kind: ChannelKind;
  description: string;
  broadcast: boolean;
}

/** An operator-configured destination, narrowed to what the outbox and the delivery worker need. */
export interface Channel {
  readonly summary: ChannelSummary;
  /** Per-channel budget of accepted notifications per minute, shared by every replica. */
  readonly rateLimitPerMinute: number | undefined;
  /** Throws a ToolError for recipients this channel refuses (allow-lists, caps, a `to` it cannot use). */
  checkRecipients(recipients: readonly string[]): void;
  /** One attempt, bounded by the delivery timeout and `signal`; throws DeliveryError when it fails. */
  deliver(notification: OutgoingNotification, signal: AbortSignal): Promise<void>;
  close(): void;
}
