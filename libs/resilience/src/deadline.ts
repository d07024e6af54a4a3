/** Why a call run by `withDeadline` was stopped before it answered. */
export class CallStoppedError extends Error {
  constructor(readonly reason: 'deadline' | 'aborted') {
    super(reason === 'deadline' ? 'the call ran past its deadline' : 'the call was aborted');
    this.name = 'CallStoppedError';
  }
}

/**
 * Runs `work` with a signal that aborts at `deadlineMs` or when any of `parents` aborts, and answers
 * at that moment even if `work` is slow to notice: the caller gets a `CallStoppedError` (reason
 * `deadline` or `aborted`), while `work` is told through its signal. When `work` settles first, the
 * timer and listeners are removed and nothing is aborted.
 *
 * This is what cockatiel's aggressive `timeout()` policy did for every tool call; built per call, its
 * policy, event emitters, derived controller and wrapped executor were about 20 µs of CPU and much of
 * the garbage of a fast call (measured with --cpu-prof on the files benchmark). The per-call
 * deadline is Flotilla's own small piece; cockatiel still provides the circuit breakers and bulkheads.
 */
export function withDeadline<T>(
  deadlineMs: number,
  parents: readonly AbortSignal[],
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let stop: (error: CallStoppedError) => void = () => undefined;
  const stopped = new Promise<never>((_resolve, reject) => {
    stop = reject;
  });
  // The caller's answer is settled before `work` hears of the abort, so a handler that rejects with
  // its abort reason at once cannot win the race with an error of its own.
  const onParentAbort = () => {
    stop(new CallStoppedError('aborted'));
    controller.abort();
  };
  const timer = setTimeout(() => {
    stop(new CallStoppedError('deadline'));
    controller.abort();
  }, deadlineMs);
  for (const parent of parents) {
    if (parent.aborted) onParentAbort();
    else parent.addEventListener('abort', onParentAbort, { once: true });
  }
  const release = () => {
    clearTimeout(timer);
    for (const parent of parents) parent.removeEventListener('abort', onParentAbort);
  };
  let running: Promise<T>;
  try {
    running = Promise.resolve(work(controller.signal));
  } catch (error) {
    running = Promise.reject(error);
  }
  // The losing side of the race must not surface as an unhandled rejection.
  stopped.catch(() => undefined);
  running.catch(() => undefined);
  return Promise.race([running, stopped]).finally(release);
}
