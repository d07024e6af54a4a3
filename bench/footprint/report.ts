import { type Machine, machineSection } from '../shared/machine.ts';
import { markdownTable, textTable, writeResults as writeResultFiles } from '../shared/results.ts';
import type { CallFigures } from './calls.ts';
import type { MemoryReading } from './memory.ts';
import type { ServerName, Settings } from './settings.ts';

/** The issue's targets: shown beside the figures, never a reason to fail. */
export const TARGETS = {
  rssMB: 100,
  readyMs: 2000,
  /** Ready in 2 s is asked of these (on an already running Postgres and Redis); notifications also starts pg-boss. */
  readyServers: ['database', 'files'] as readonly ServerName[],
};

export interface StartFigures {
  readonly readyMs: number;
  readonly listeningMs: number | undefined;
  readonly cpuMs: number | undefined;
}

export interface ServerRun {
  readonly name: ServerName;
  /** What each measured call does. */
  readonly description: string;
  /** Every timed start, in order; the memory figures are those of the last. */
  readonly starts: readonly StartFigures[];
  readonly readyMs: { readonly median: number; readonly max: number; readonly min: number };
  readonly listeningMedianMs: number | undefined;
  /** CPU time used by the time it was ready, median over the starts. */
  readonly cpuMedianMs: number | undefined;
  /** The settle time after ready, with no traffic. */
  readonly idle: MemoryReading;
  readonly calls: CallFigures;
  /** The settle time after the last call, with no traffic. */
  readonly afterCalls: MemoryReading;
  /** Undefined where the issue sets no target: ready for notifications, everything for the floor. */
  readonly meetsTargets: {
    readonly idleRss: boolean | undefined;
    readonly afterCallsRss: boolean | undefined;
    readonly ready: boolean | undefined;
  };
}

export interface FootprintReport {
  readonly benchmark: 'footprint';
  readonly startedAt: string;
  readonly settings: Settings;
  readonly machine: Machine & { readonly postgres: string };
  readonly targets: typeof TARGETS;
  readonly runs: readonly ServerRun[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export function meetsTargets(
  name: ServerName,
  readyMaxMs: number,
  idle: MemoryReading,
  after: MemoryReading,
): ServerRun['meetsTargets'] {
  if (name === 'floor') return { idleRss: undefined, afterCallsRss: undefined, ready: undefined };
  return {
    idleRss: idle.rssMB <= TARGETS.rssMB,
    afterCallsRss: after.rssMB <= TARGETS.rssMB,
    ready: TARGETS.readyServers.includes(name) ? readyMaxMs <= TARGETS.readyMs : undefined,
  };
}

function headings(calls: number): string[] {
  return [
    'server',
    'ready p50 ms',
    'ready max ms',
    'listening p50 ms',
    'CPU to ready p50 ms',
    'idle RSS MB',
    `RSS after ${calls} calls MB`,
    'peak RSS MB',
    'heap used MB idle/after',
    'calls/s',
    'failed',
    `RSS ≤ ${TARGETS.rssMB} MB idle/after`,
    `ready ≤ ${TARGETS.readyMs / 1000} s`,
  ];
}

function cells(run: ServerRun): string[] {
  const mb = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(1));
  const verdict = (ok: boolean | undefined) => (ok === undefined ? '-' : ok ? 'yes' : 'NO');
  const failed = run.calls.non2xx + run.calls.failedResults + run.calls.socketErrors;
  return [
    run.name,
    run.readyMs.median.toFixed(0),
    run.readyMs.max.toFixed(0),
    run.listeningMedianMs === undefined ? 'n/a' : run.listeningMedianMs.toFixed(0),
    run.cpuMedianMs === undefined ? 'n/a' : run.cpuMedianMs.toFixed(0),
    mb(run.idle.rssMB),
    mb(run.afterCalls.rssMB),
    mb(run.afterCalls.peakRssMB),
    `${mb(run.idle.heapUsedMB)}/${mb(run.afterCalls.heapUsedMB)}`,
    String(run.calls.callsPerSecond),
    String(failed),
    `${verdict(run.meetsTargets.idleRss)}/${verdict(run.meetsTargets.afterCallsRss)}`,
    verdict(run.meetsTargets.ready),
  ];
}

/** The table for the terminal. */
export function formatTable(report: FootprintReport): string {
  return textTable(headings(report.settings.calls), report.runs.map(cells));
}

export function formatMarkdown(report: FootprintReport): string {
  const { settings, machine } = report;
  const table = markdownTable(headings(settings.calls), report.runs.map(cells));
  const starts = markdownTable(
    ['server', ...Array.from({ length: settings.starts }, (_, index) => `start ${index + 1} ms`)],
    report.runs.map((run) => [
      run.name,
      ...run.starts.map((start) => `${start.readyMs.toFixed(0)} (CPU ${start.cpuMs?.toFixed(0) ?? 'n/a'})`),
    ]),
  );
  const memory = markdownTable(
    [
      'server',
      'when',
      'RSS MB',
      'anon MB',
      'file MB',
      'peak RSS MB',
      'heap used MB',
      'heap total MB',
      'external MB',
      'RSS by /metrics MB',
    ],
    report.runs.flatMap((run) =>
      (
        [
          ['idle', run.idle],
          [`after ${settings.calls} calls`, run.afterCalls],
        ] as const
      ).map(([when, reading]) => [
        run.name,
        when,
        ...[
          reading.rssMB,
          reading.anonMB,
          reading.fileMB,
          reading.peakRssMB,
          reading.heapUsedMB,
          reading.heapTotalMB,
          reading.externalMB,
          reading.residentMB,
        ].map((value) => (value === undefined ? 'n/a' : value.toFixed(1))),
      ]),
    ),
    2,
  );
  return `# Footprint benchmark, ${report.startedAt}

How long each server takes from \`node dist/main.js\` to its first 200 from \`/readyz\`, on an
already running PostgreSQL and Redis, and how much memory it holds idle, before and after
${settings.calls} \`tools/call\` requests:

${report.runs.map((run) => `- **${run.name}**: ${run.description}`).join('\n')}

${table}

Targets (from the issue, not a pass/fail of this run): RSS ≤ ${TARGETS.rssMB} MB idle after start and
after the calls; ready ≤ ${TARGETS.readyMs / 1000} s for ${TARGETS.readyServers.join(' and ')}. MB are 10^6 bytes.

"CPU to ready" is the user + system time the process had used once ready (all its threads): it moves
much less than the wall-clock figures when other work competes for the cores. "listening" is the
time stamp of the server's "serving MCP over HTTP" log line: loading and set-up, before the first
readiness check. RSS and peak RSS are VmRSS and VmHWM from /proc/<pid>/status, split into anonymous
(private: V8 heap, malloc) and file-backed pages (mostly the Node.js binary's code, shared and
clean); heap, external memory and the second RSS come from the server's own /metrics (admin port).
\`floor\` is bare node:http measured the same way: what Node.js itself holds.

## Every start

${starts}

## Memory

${memory}

## Settings

| | |
| --- | --- |
| starts per server | ${settings.starts} (memory measured on the last) |
| settle before the idle reading | ${settings.settleSeconds.afterReady} s after ready |
| calls | ${settings.calls}, ${settings.concurrency} in flight (fetch, keep-alive), API key, Redis rate limit |
| settle before the second reading | ${settings.settleSeconds.afterCalls} s after the last call |
| MCP protocol revision | ${settings.protocol} |

${machineSection(machine, [['PostgreSQL', machine.postgres]])}
`;
}

/** Writes footprint-<timestamp>.json and footprint-latest.md to `dir`; returns their paths. */
export function writeResults(report: FootprintReport, dir: string): Promise<string[]> {
  return writeResultFiles(dir, 'footprint', report.startedAt, report, formatMarkdown(report));
}
