import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  wrap,
} from 'cockatiel';

export { BrokenCircuitError } from 'cockatiel';

const DEFAULT_HALF_OPEN_AFTER_MS = 2000;

export interface DependencyPolicyOptions {
  name: string;
  /** Only transient failures are retried and counted by the breaker; a permanent one fails at once. */
  isTransient: (error: unknown) => boolean;
  maxAttempts?: number;
  consecutiveFailures?: number;
  halfOpenAfterMs?: number;
  onCircuitChange?: (open: boolean) => void;
}

export interface DependencyPolicy {
  readonly name: string;
  /** Runs `work` with retry (exponential backoff, decorrelated jitter) inside the dependency's circuit breaker. */
  execute<T>(work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** How long a caller should wait before trying again while the circuit is open. */
  readonly retryAfterMs: number;
}

export function createDependencyPolicy(options: DependencyPolicyOptions): DependencyPolicy {
  const transient = handleWhen((error) => options.isTransient(error));
  // Also how long calls keep failing after the dependency is back, at worst (the last trial call failed just before
  // it returned): well under the 5 s within which a replica must serve again.
  const halfOpenAfter = options.halfOpenAfterMs ?? DEFAULT_HALF_OPEN_AFTER_MS;
  const breaker = circuitBreaker(transient, {
    halfOpenAfter,
    breaker: new ConsecutiveBreaker(options.consecutiveFailures ?? 5),
  });
  breaker.onBreak(() => options.onCircuitChange?.(true));
  breaker.onReset(() => options.onCircuitChange?.(false));
  const retrying = retry(transient, {
    maxAttempts: (options.maxAttempts ?? 3) - 1,
    backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000 }),
  });
  // Retry outside the breaker: each attempt is counted, and an open circuit stops the retries at once.
  const policy = wrap(retrying, breaker);
  return {
    name: options.name,
    retryAfterMs: halfOpenAfter,
    execute: (work, signal) => policy.execute(({ signal: policySignal }) => work(policySignal), signal),
  };
}

export function isBrokenCircuit(error: unknown): error is BrokenCircuitError {
  return error instanceof BrokenCircuitError;
}
