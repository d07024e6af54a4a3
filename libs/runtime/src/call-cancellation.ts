import { randomUUID } from 'node:crypto';
import type { Principal } from '@flotilla/auth';
import type { Redis } from '@flotilla/resilience';
import type { Logger } from '@flotilla/telemetry';

/** What a cancel carries between replicas. `from` lets a replica skip its own, already applied, cancels. */
interface CancelMessage {
  from: string;
  key: string;
}

/**
 * Routes a 2025-era `notifications/cancelled` to the call it names, on whichever replica runs it.
 *
 * Over stateless Streamable HTTP the notification is a POST of its own, which a Service may send to another replica
 * than the one running the call. Every replica keeps its HTTP `tools/call` requests in flight by (principal, JSON-RPC
 * request id); a cancel is applied to this replica's calls at once and published on Redis, and every replica applies
 * the cancels it receives to its own calls.
 *
 * The key is the only identity a stateless 2025 request carries. It is the principal as authenticated on the
 * replica that received the cancel, so one principal can never stop another's call; but two clients sharing one
 * credential that have the same request id in flight at the same moment are both stopped (README, departures).
 * A cancel published while Redis is down is lost, never queued (a late one could stop a later call): that call still
 * ends at TOOL_TIMEOUT_MS.
 */
export class CallCancellation {
  readonly #calls = new Map<string, Set<AbortController>>();
  readonly #replica = randomUUID();
  readonly #channel: string;
  readonly #subscriber: Redis | undefined;

  constructor(
    private readonly redis: Redis | undefined,
    serviceName: string,
    private readonly logger: Logger,
  ) {
    this.#channel = `flotilla:${serviceName}:cancel`;
    if (!redis) return;
    const subscriber = redis.duplicate();
    this.#subscriber = subscriber;
    subscriber.on('error', (error) => logger.debug({ err: error }, 'redis cancel subscriber error'));
    // ioredis subscribes again by itself after a reconnect once the first subscribe succeeded; until then, each
    // connection attempt that succeeds tries it (Redis may be down when the replica starts).
    let subscribed = false;
    const subscribe = () => {
      if (subscribed) return;
      subscriber.subscribe(this.#channel).then(
        () => {
          subscribed = true;
        },
        (error: Error) => logger.debug({ err: error }, 'subscribing to cancels failed; retrying on reconnect'),
      );
    };
    subscriber.on('ready', subscribe);
    if (subscriber.status === 'ready') subscribe();
    subscriber.on('message', (_channel: string, raw: string) => this.#receive(raw));
  }

  /** Tracks one call until the returned function is called; `controller` is aborted if a cancel names it. */
  track(principal: Principal, requestId: string | number, controller: AbortController): () => void {
    const key = keyOf(principal, requestId);
    let calls = this.#calls.get(key);
    if (!calls) {
      calls = new Set();
      this.#calls.set(key, calls);
    }
    calls.add(controller);
    return () => {
      calls.delete(controller);
      if (calls.size === 0 && this.#calls.get(key) === calls) this.#calls.delete(key);
    };
  }

  /** Stops the principal's calls with this request id here, and tells the other replicas to stop theirs. */
  cancel(principal: Principal, requestId: string | number): void {
    const key = keyOf(principal, requestId);
    this.#abort(key);
    if (this.redis?.status !== 'ready') return;
    const message: CancelMessage = { from: this.#replica, key };
    this.redis
      .publish(this.#channel, JSON.stringify(message))
      .catch((error: Error) => this.logger.debug({ err: error }, 'publishing a cancel failed'));
  }

  close(): void {
    this.#subscriber?.disconnect();
  }

  #receive(raw: string): void {
    let message: Partial<CancelMessage>;
    try {
      message = JSON.parse(raw) as Partial<CancelMessage>;
    } catch {
      return;
    }
    if (message.from !== this.#replica && typeof message.key === 'string') this.#abort(message.key);
  }

  #abort(key: string): void {
    const calls = this.#calls.get(key);
    if (!calls) return;
    for (const controller of calls) controller.abort(new Error('cancelled by the client (notifications/cancelled)'));
  }
}

/** JSON keeps the id 1 and the id "1" apart, as JSON-RPC does, and no tenant or subject can run into the next part. */
function keyOf(principal: Principal, requestId: string | number): string {
  return JSON.stringify([principal.tenant, principal.subject, requestId]);
}
