import { createHash } from 'node:crypto';
import type { Principal } from '@flotilla/auth';
import type { DependencyPolicy, RateLimiter } from '@flotilla/resilience';
import { isTransientPostgresError } from '@flotilla/resilience';
import { ToolError } from '@flotilla/runtime';
import type { Channel, Severity } from './channels/channel.js';
import type { ChannelDirectory } from './channels/directory.js';
import { MAX_SCHEDULE_DAYS } from './delivery/queue.js';
import type { NotificationRecord, NotificationStatus, NotificationStore } from './store/notification-store.js';

export const BROADCAST_SCOPE = 'notify:broadcast';

export interface SendRequest {
  channel: string;
  to?: string[];
  subject?: string;
  body: string;
  severity: Severity;
  idempotencyKey: string;
  /** ISO 8601 with an offset. */
  sendAt?: string;
}

/** What a caller learns about one of its notifications. */
export interface NotificationView {
  id: string;
  channel: string;
  status: NotificationStatus;
  severity: Severity;
  subject: string | null;
  recipients: string[];
  attempts: number;
  lastError: string | null;
  createdAt: string;
  sendAt: string;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  cancelledAt: string | null;
}

export interface OutboxOptions {
  store: NotificationStore;
  channels: ChannelDirectory;
  /** Retries and a circuit breaker around Postgres for calls made on a caller's behalf. */
  postgres: DependencyPolicy;
  /** Per-channel budgets, for channels with a rateLimitPerMinute. */
  channelLimiters: ReadonlyMap<string, RateLimiter>;
  maxRecipients: number;
}

const CURSOR = /^n1:(\d{1,18})$/;

/**
 * Where tools hand notifications over: accepting one (durably, once per idempotency key), reading
 * and cancelling them, always within the caller's tenant. Another tenant's notification is simply
 * not found.
 */
export class Outbox {
  constructor(private readonly options: OutboxOptions) {}

  async send(principal: Principal, request: SendRequest): Promise<{ id: string; status: NotificationStatus }> {
    const { store, channels } = this.options;
    const channel = channels.resolve(request.channel);
    const recipients = request.to ?? [];
    this.guardMassSend(principal, channel, recipients.length);
    channel.checkRecipients(recipients);
    const sendAt = scheduledTime(request.sendAt);
    const fingerprint = fingerprintOf(request, recipients);

    // A repeat must not spend a channel's budget, so a budgeted channel looks for the key first; for any
    // other channel the insert's ON CONFLICT finds an earlier send by itself, one round trip fewer.
    const budget = this.options.channelLimiters.get(channel.summary.name);
    if (budget) {
      const earlier = await this.postgres(() => store.findByKey(principal.tenant, request.idempotencyKey));
      if (earlier) return replay(earlier, request.idempotencyKey, fingerprint);
      await this.spendChannelBudget(channel, budget);
    }
    const { record, created } = await this.postgres(() =>
      store.insert({
        tenant: principal.tenant,
        createdBy: principal.subject,
        idempotencyKey: request.idempotencyKey,
        fingerprint,
        channel: request.channel,
        recipients,
        subject: request.subject ?? null,
        body: request.body,
        severity: request.severity,
        sendAt,
      }),
    );
    return created ? { id: record.id, status: record.status } : replay(record, request.idempotencyKey, fingerprint);
  }

  async get(principal: Principal, id: string): Promise<NotificationView> {
    const record = await this.postgres(() => this.options.store.get(principal.tenant, id));
    if (!record) throw notFound(id);
    return viewOf(record);
  }

  async list(
    principal: Principal,
    filter: { status?: NotificationStatus; channel?: string; cursor?: string; limit: number },
  ): Promise<{ notifications: NotificationView[]; nextCursor: string | null }> {
    const beforeSeq = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    const records = await this.postgres(() =>
      this.options.store.list(principal.tenant, {
        status: filter.status,
        channel: filter.channel,
        beforeSeq,
        // One more than asked shows whether another page exists.
        limit: filter.limit + 1,
      }),
    );
    const page = records.slice(0, filter.limit);
    const last = page.at(-1);
    return {
      notifications: page.map(viewOf),
      nextCursor: records.length > filter.limit && last ? encodeCursor(last.seq) : null,
    };
  }

  async cancel(principal: Principal, id: string): Promise<{ id: string; status: NotificationStatus }> {
    const result = await this.postgres(() => this.options.store.cancel(principal.tenant, id));
    if (result.outcome === 'not_found') throw notFound(id);
    const { record } = result;
    if (result.outcome === 'cancelled' || record.status === 'cancelled') return { id, status: 'cancelled' };
    throw new ToolError('CONFLICT', tooLate(record));
  }

  private guardMassSend(principal: Principal, channel: Channel, recipients: number): void {
    if (principal.scopes.includes(BROADCAST_SCOPE)) return;
    const { name, broadcast } = channel.summary;
    if (broadcast) {
      throw new ToolError(
        'FORBIDDEN',
        `Channel ${name} is a broadcast channel: sending to it needs the ${BROADCAST_SCOPE} scope, which this caller lacks.`,
      );
    }
    const max = this.options.maxRecipients;
    if (recipients > max) {
      throw new ToolError(
        'FORBIDDEN',
        `Sending to ${recipients} recipients (more than ${max}) needs the ${BROADCAST_SCOPE} scope, which this ` +
          `caller lacks. Send to at most ${max} recipients per notification.`,
      );
    }
  }

  private async spendChannelBudget(channel: Channel, limiter: RateLimiter): Promise<void> {
    const decision = await limiter.consume(channel.summary.name);
    if (!decision.allowed) {
      throw new ToolError(
        'RATE_LIMITED',
        `Channel ${channel.summary.name} accepts at most ${channel.rateLimitPerMinute} notifications per minute; ` +
          `retry after ${decision.retryAfterMs} ms.`,
        { retryAfterMs: decision.retryAfterMs },
      );
    }
  }

  /** Postgres on a caller's behalf: transient failures are retried, then reported as UNAVAILABLE. */
  private async postgres<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await this.options.postgres.execute(work);
    } catch (error) {
      if (isTransientPostgresError(error)) {
        throw new ToolError('UNAVAILABLE', 'The notification store is unavailable right now; retry shortly.', {
          retryAfterMs: 1000,
          cause: error,
        });
      }
      throw error;
    }
  }
}

/** A past sendAt means now; the limit keeps a scheduled job inside pg-boss's retention. */
function scheduledTime(sendAt: string | undefined): Date | undefined {
  if (sendAt === undefined) return undefined;
  const at = new Date(sendAt);
  const latest = Date.now() + MAX_SCHEDULE_DAYS * 86_400_000;
  if (at.getTime() > latest) {
    throw new ToolError('INVALID_ARGUMENT', `sendAt may be at most ${MAX_SCHEDULE_DAYS} days ahead.`);
  }
  return at.getTime() > Date.now() ? at : undefined;
}

/** The content a key stands for: the same key with any other content is a conflict, not a replay. */
function fingerprintOf(request: SendRequest, recipients: readonly string[]): string {
  const content = [
    request.channel,
    recipients,
    request.subject ?? null,
    request.body,
    request.severity,
    request.sendAt === undefined ? null : new Date(request.sendAt).toISOString(),
  ];
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

function replay(record: NotificationRecord, key: string, fingerprint: string) {
  if (record.fingerprint !== fingerprint) {
    throw new ToolError(
      'CONFLICT',
      `idempotencyKey "${key}" was already used for a different notification (${record.id}). Reuse a key only ` +
        'to retry the very same send; use a new key for new content.',
    );
  }
  return { id: record.id, status: record.status };
}

function notFound(id: string): ToolError {
  return new ToolError('NOT_FOUND', `No notification ${id}. list_notifications shows yours.`);
}

function tooLate(record: NotificationRecord): string {
  switch (record.status) {
    case 'sending':
      return `Notification ${record.id} is being delivered right now, so it can no longer be cancelled.`;
    case 'delivered':
      return `Notification ${record.id} was already delivered at ${record.deliveredAt?.toISOString()}; it cannot be cancelled.`;
    default:
      return `Notification ${record.id} has already ${record.status}; there is nothing left to cancel.`;
  }
}

function encodeCursor(seq: string): string {
  return Buffer.from(`n1:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const seq = CURSOR.exec(Buffer.from(cursor, 'base64url').toString())?.[1];
  if (!seq) {
    throw new ToolError(
      'INVALID_ARGUMENT',
      'cursor is not one this server issued; pass nextCursor from a previous list_notifications, or omit it.',
    );
  }
  return seq;
}

function viewOf(record: NotificationRecord): NotificationView {
  const iso = (date: Date | null) => date?.toISOString() ?? null;
  return {
    id: record.id,
    channel: record.channel,
    status: record.status,
    severity: record.severity,
    subject: record.subject,
    recipients: record.recipients,
    attempts: record.attempts,
    lastError: record.lastError,
    createdAt: record.createdAt.toISOString(),
    sendAt: record.sendAt.toISOString(),
    nextAttemptAt: iso(record.nextAttemptAt),
    deliveredAt: iso(record.deliveredAt),
    cancelledAt: iso(record.cancelledAt),
  };
}
