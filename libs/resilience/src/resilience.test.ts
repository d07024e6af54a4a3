import { RateLimiterMemory } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import { CallStoppedError, withDeadline } from './deadline.js';
import { createDependencyPolicy, isBrokenCircuit } from './dependency-policy.js';
import { checkDependencies } from './health.js';
import { LeasedBudget, leaseSizeFor } from './leased-budget.js';
import { createRateLimiter } from './rate-limit.js';

class Transient extends Error {}

describe('dependency policy', () => {
  const options = { name: 'db', isTransient: (error: unknown) => error instanceof Transient };

  it('retries a transient failure and then succeeds', async () => {
    const policy = createDependencyPolicy(options);
    let attempts = 0;
    const value = await policy.execute(async () => {
      attempts += 1;
      if (attempts < 3) throw new Transient('reset');
      return 'ok';
    });
    expect(value).toBe('ok');
    expect(attempts).toBe(3);
  });

  it('never retries a permanent failure', async () => {
    const policy = createDependencyPolicy(options);
    let attempts = 0;
    await expect(
      policy.execute(async () => {
        attempts += 1;
        throw new Error('syntax error');
      }),
    ).rejects.toThrow('syntax error');
    expect(attempts).toBe(1);
  });

  it('opens the circuit after consecutive transient failures, fails fast, and recovers', async () => {
    const changes: boolean[] = [];
    const policy = createDependencyPolicy({
      ...options,
      maxAttempts: 1,
      consecutiveFailures: 2,
      halfOpenAfterMs: 100,
      onCircuitChange: (open) => changes.push(open),
    });
    const failing = () => policy.execute(async () => Promise.reject(new Transient('down')));
    await expect(failing()).rejects.toThrow('down');
    await expect(failing()).rejects.toThrow('down');
    let calls = 0;
    const rejection = await policy
      .execute(async () => {
        calls += 1;
        return 'never';
      })
      .catch((error: unknown) => error);
    expect(isBrokenCircuit(rejection)).toBe(true);
    expect(calls).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await policy.execute(async () => 'back')).toBe('back');
    expect(changes).toEqual([true, false]);
  });
});

describe('health', () => {
  it('is ready while every required dependency answers, and reports optional ones', async () => {
    const statuses: [string, boolean][] = [];
    const report = await checkDependencies(
      [
        { name: 'postgres', required: true, check: async () => {} },
        {
          name: 'redis',
          required: false,
          check: async () => Promise.reject(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })),
        },
      ],
      500,
      (name, up) => statuses.push([name, up]),
    );
    expect(report).toEqual({
      ready: true,
      dependencies: {
        postgres: { status: 'up', required: true },
        redis: { status: 'down', required: false, error: 'ECONNREFUSED' },
      },
    });
    expect(statuses).toContainEqual(['redis', false]);
  });

  it('is unready when a required dependency hangs past the timeout', async () => {
    const report = await checkDependencies(
      [
        {
          name: 'postgres',
          required: true,
          check: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        },
      ],
      50,
    );
    expect(report.ready).toBe(false);
  });
});

describe('in-memory rate limiter (no REDIS_URL)', () => {
  it('allows the budget and then says how long to wait', async () => {
    const limiter = createRateLimiter({ pointsPerMinute: 2, keyPrefix: 'test', failMode: 'open' });
    expect((await limiter.consume('a')).allowed).toBe(true);
    expect((await limiter.consume('a')).allowed).toBe(true);
    const third = await limiter.consume('a');
    expect(third.allowed).toBe(false);
    expect(third.retryAfterMs).toBeGreaterThan(50_000);
    expect((await limiter.consume('b')).allowed).toBe(true);
  });
});

describe('leased budget (two replicas spending one store)', () => {
  const replicasOf = (store: RateLimiterMemory, points: number, leaseSize: number) => {
    const consumed = { count: 0 };
    const counting = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'consume') consumed.count += 1;
        return Reflect.get(target, property, receiver);
      },
    });
    return {
      consumed,
      replicas: [new LeasedBudget(counting, points, leaseSize), new LeasedBudget(counting, points, leaseSize)],
    };
  };

  it('admits exactly the budget, asks the store once per lease, and keeps the part of a lease under the budget', async () => {
    const { consumed, replicas } = replicasOf(new RateLimiterMemory({ points: 95, duration: 60 }), 95, 10);
    const decisions = await Promise.all(
      Array.from({ length: 300 }, (_, i) => (replicas[i % 2] as LeasedBudget).consume('tenant/subject')),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(95);
    expect(consumed.count).toBeLessThanOrEqual(95 / 10 + 1 + 2 * 2);
    const refused = decisions.find((decision) => !decision.allowed);
    expect(refused?.retryAfterMs).toBeGreaterThan(50_000);
  });

  it('never spends a lease of a finished window in the next one', async () => {
    const { replicas } = replicasOf(new RateLimiterMemory({ points: 20, duration: 1 }), 20, 10);
    const [early, late] = replicas as [LeasedBudget, LeasedBudget];
    expect((await early.consume('k')).allowed).toBe(true); // leases 10, spends 1
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const next = await Promise.all(Array.from({ length: 20 }, () => late.consume('k')));
    expect(next.every((decision) => decision.allowed)).toBe(true);
    // The 9 points left of the first window's lease are gone with it.
    expect((await early.consume('k')).allowed).toBe(false);
  });

  it('sizes leases at 1 % of the budget, between 1 and 50', () => {
    expect([10, 600, 5000, 1_000_000].map(leaseSizeFor)).toEqual([1, 6, 50, 50]);
  });
});

describe('per-call deadline', () => {
  const never = (signal: AbortSignal) =>
    new Promise<string>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('saw abort'))));

  it('answers at the deadline, before a slow handler notices, and tells the handler', async () => {
    let handlerSignal: AbortSignal | undefined;
    const started = performance.now();
    const outcome = await withDeadline(50, [], (signal) => {
      handlerSignal = signal;
      // Ignores its signal and would finish only after a second.
      return new Promise((resolve) => setTimeout(resolve, 1000, 'late'));
    }).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(CallStoppedError);
    expect((outcome as CallStoppedError).reason).toBe('deadline');
    expect(performance.now() - started).toBeLessThan(500);
    expect(handlerSignal?.aborted).toBe(true);
  });

  it('stops when any parent aborts, even before the call starts, with its own error winning', async () => {
    const request = new AbortController();
    const shutdown = new AbortController();
    const running = withDeadline(10_000, [request.signal, shutdown.signal], never);
    shutdown.abort();
    await expect(running).rejects.toMatchObject({ name: 'CallStoppedError', reason: 'aborted' });
    const aborted = AbortSignal.abort();
    await expect(withDeadline(10_000, [aborted], never)).rejects.toBeInstanceOf(CallStoppedError);
  });

  it('returns what the handler returns, or its own error, and leaves no listener or timer behind', async () => {
    const parent = new AbortController();
    let handlerSignal: AbortSignal | undefined;
    const value = await withDeadline(10_000, [parent.signal], async (signal) => {
      handlerSignal = signal;
      return 42;
    });
    expect(value).toBe(42);
    await expect(withDeadline(10_000, [parent.signal], () => Promise.reject(new Transient('own')))).rejects.toThrow(
      'own',
    );
    // Aborting the parent afterwards reaches nothing: the listeners were removed and the call was not aborted.
    parent.abort();
    expect(handlerSignal?.aborted).toBe(false);
  });
});
