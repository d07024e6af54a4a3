import { createDependencyPolicy, type DependencyPolicy, isBrokenCircuit } from '@flotilla/resilience';
import type { FleetMetrics, Logger } from '@flotilla/telemetry';
import type { Job } from 'pg-boss';
import { DeliveryError, type OutgoingNotification } from '../channels/channel.js';
import type { ChannelDirectory } from '../channels/directory.js';
import type { NotificationMetrics } from '../metrics.js';
import type { AttemptOutcome, NotificationRecord, NotificationStore } from '../store/notification-store.js';
import { retryDelayMs } from './backoff.js';
import type { DeliveryJob } from './queue.js';

export interface DelivererSettings {
  maxAttempts: number;
  retryBaseMs: number;
}

/** Consecutive retryable failures that open a channel's circuit, and how long it then stays open. */
const BREAKER_FAILURES = 5;
const BREAKER_OPEN_MS = 15_000;

/**
 * Runs one delivery job: claims the notification, makes one attempt through the channel's circuit
 * breaker, and records the outcome (delivered, failed, or retry at a later time) together with the
 * job's completion.
 */
export class Deliverer {
  private readonly breakers = new Map<string, DependencyPolicy>();

  constructor(
    private readonly store: NotificationStore,
    private readonly channels: ChannelDirectory,
    private readonly settings: DelivererSettings,
    private readonly metrics: NotificationMetrics,
    private readonly fleetMetrics: FleetMetrics,
    private readonly logger: Logger,
  ) {}

  async run(job: Job<DeliveryJob>): Promise<void> {
    const notification = await this.store.claim(job);
    // Cancelled, already final, or handed to a newer job: this one has nothing left to do.
    if (!notification) return;
    const outcome = await this.attempt(notification, job.signal);
    const recorded = await this.store.finish(job, outcome);
    const log = {
      notificationId: notification.id,
      tenant: notification.tenant,
      channel: notification.channel,
      attempts: notification.attempts,
    };
    if (!recorded) {
      this.logger.warn(log, 'delivery outcome not recorded: the job lost its claim during the attempt');
      return;
    }
    if (outcome.kind === 'retry') {
      this.logger.info({ ...log, reason: outcome.reason, nextAttemptAt: outcome.at }, 'delivery will be retried');
      return;
    }
    this.metrics.deliveries.inc({ channel: notification.channel, outcome: outcome.kind });
    if (outcome.kind === 'failed') this.logger.warn({ ...log, reason: outcome.reason }, 'delivery failed');
    else this.logger.info(log, 'notification delivered');
  }

  private async attempt(notification: NotificationRecord, signal: AbortSignal): Promise<AttemptOutcome> {
    const channel = this.channels.get(notification.channel);
    if (!channel) {
      return { kind: 'failed', reason: `channel ${notification.channel} is no longer configured on this server` };
    }
    try {
      await this.breaker(notification.channel).execute((breakerSignal) => {
        this.metrics.attempts.inc({ channel: notification.channel });
        return channel.deliver(outgoing(notification), AbortSignal.any([signal, breakerSignal]));
      }, signal);
      return { kind: 'delivered' };
    } catch (error) {
      if (isBrokenCircuit(error)) {
        return {
          kind: 'retry',
          reason: 'not attempted: the channel failed repeatedly and is paused briefly',
          at: new Date(Date.now() + BREAKER_OPEN_MS),
          counted: false,
        };
      }
      if (!(error instanceof DeliveryError)) {
        this.logger.error({ err: error, notificationId: notification.id }, 'delivery attempt failed unexpectedly');
      }
      const failure =
        error instanceof DeliveryError ? error : new DeliveryError('an internal error interrupted it', true);
      if (!failure.retryable) return { kind: 'failed', reason: failure.reason };
      if (notification.attempts >= this.settings.maxAttempts) {
        return { kind: 'failed', reason: `${failure.reason} (gave up after ${notification.attempts} attempts)` };
      }
      const delay = retryDelayMs(notification.attempts, this.settings.retryBaseMs, failure.retryAfterMs);
      return { kind: 'retry', reason: failure.reason, at: new Date(Date.now() + delay), counted: true };
    }
  }

  /** One breaker per channel and replica: a failing receiver is paused without holding back the others. */
  private breaker(channel: string): DependencyPolicy {
    let breaker = this.breakers.get(channel);
    if (!breaker) {
      const dependency = `channel:${channel}`;
      this.fleetMetrics.circuitOpen.set({ dependency }, 0);
      breaker = createDependencyPolicy({
        name: dependency,
        isTransient: (error) => error instanceof DeliveryError && error.retryable,
        // Retries are separate, durable jobs; the breaker only counts and pauses.
        maxAttempts: 1,
        consecutiveFailures: BREAKER_FAILURES,
        halfOpenAfterMs: BREAKER_OPEN_MS,
        onCircuitChange: (open) => {
          this.fleetMetrics.circuitOpen.set({ dependency }, open ? 1 : 0);
          this.logger.warn({ dependency, open }, open ? 'circuit opened' : 'circuit closed');
        },
      });
      this.breakers.set(channel, breaker);
    }
    return breaker;
  }
}

function outgoing(notification: NotificationRecord): OutgoingNotification {
  return {
    id: notification.id,
    tenant: notification.tenant,
    channel: notification.channel,
    recipients: notification.recipients,
    subject: notification.subject,
    body: notification.body,
    severity: notification.severity,
    createdAt: notification.createdAt,
  };
}
