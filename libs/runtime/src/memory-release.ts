import type { Logger } from '@flotilla/telemetry';

/**
 * V8's `gc()` as `--expose-gc` installs it. The options are those of V8's gc extension: a
 * `last-resort` major GC is the one V8 runs under memory pressure, which also shrinks the young
 * generation back to its minimum and returns the emptied pages to the kernel. An ordinary major GC
 * (`gc()` alone) keeps the young generation at the size it grew to.
 */
type ExposedGc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * Returns to the kernel the memory V8 holds but does not use. Loading a server's modules grows the
 * young generation to its 16 MB semi-spaces and leaves start-up garbage in the old one; serving
 * grows them again. V8 keeps that memory for the next allocation: an idle server held 120–140 MB of
 * RSS and 190–270 MB after a burst of calls (bench/footprint), where a memory-reducing GC brings it
 * to about 95–105 MB and 120–140 MB. A no-op (false) when Node.js was started without
 * `--expose-gc`; the image's entry point passes it.
 */
export function releaseMemory(): boolean {
  const gc = (globalThis as { gc?: ExposedGc }).gc;
  if (typeof gc !== 'function') return false;
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return true;
}

/** How many MCP requests a replica has begun, and how many are in flight: what "idle" is judged by. */
export interface RequestActivity {
  readonly started: number;
  readonly count: number;
}

/**
 * Releases memory once after each busy spell: when no request has begun for between `idleMs` and
 * 1.5 × `idleMs` and none is in flight, provided at least one began since the last release. The GC pauses the event
 * loop (about 30–110 ms on a 2-core machine), so it runs only when nobody is waiting, and never
 * twice for one quiet spell. Returns the function that stops it; `idleMs` 0 never starts it.
 */
export function releaseMemoryWhenIdle(activity: RequestActivity, idleMs: number, logger: Logger): () => void {
  if (idleMs === 0 || typeof (globalThis as { gc?: unknown }).gc !== 'function') return () => {};
  let releasedAt = activity.started;
  let seen = activity.started;
  let quietTicks = 0;
  // Two quiet half-periods in a row: the last request began at least idleMs ago.
  const timer = setInterval(() => {
    const started = activity.started;
    quietTicks = started === seen && activity.count === 0 ? quietTicks + 1 : 0;
    seen = started;
    if (quietTicks < 2 || started === releasedAt) return;
    releasedAt = started;
    const before = process.memoryUsage.rss();
    const startedAt = performance.now();
    releaseMemory();
    logger.debug(
      {
        rssBeforeMB: toMB(before),
        rssAfterMB: toMB(process.memoryUsage.rss()),
        pauseMs: Math.round(performance.now() - startedAt),
      },
      'idle: released memory',
    );
  }, idleMs / 2);
  timer.unref();
  return () => clearInterval(timer);
}

function toMB(bytes: number): number {
  return Math.round(bytes / 1e5) / 10;
}
