import type { Machine } from '../shared/machine.ts';
import { markdownTable, textTable, writeResults as writeResultFiles } from '../shared/results.ts';
import type { CpuPerRequest } from './cpu.ts';
import type { LoadFigures } from './load.ts';
import type { Settings, SystemName } from './settings.ts';

export interface SystemRun {
  readonly name: SystemName;
  readonly description: string;
  /** Size of one answer (ten rows) as the server sends it. */
  readonly responseBytes: number;
  readonly load: LoadFigures;
  /** CPU milliseconds per request answered in the measured run. */
  readonly cpuMsPerRequest: CpuPerRequest;
  /** Connections the runtime role held in Postgres halfway through the measured run. */
  readonly postgresConnections: number;
}

export interface BenchReport {
  readonly benchmark: 'database';
  readonly startedAt: string;
  readonly settings: Settings;
  readonly machine: Machine & { readonly postgres: string; readonly toolbox: string };
  readonly dataset: {
    readonly table: string;
    readonly rows: number;
    readonly customers: number;
    readonly statement: string;
    readonly plan: readonly string[];
  };
  readonly runs: readonly SystemRun[];
  /** Flotilla's requests/s divided by the other system's, when both ran. */
  readonly throughputRatios: {
    readonly flotillaToToolbox?: number;
    readonly flotillaToFloor?: number;
    readonly flotilla2ToToolbox?: number;
    readonly flotilla2ToFloor?: number;
  };
}

export function throughputRatios(runs: readonly SystemRun[]): BenchReport['throughputRatios'] {
  const rate = (name: SystemName) => runs.find((run) => run.name === name)?.load.requestsPerSecond;
  const ratio = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b ? Math.round((a / b) * 1000) / 1000 : undefined;
  return {
    flotillaToToolbox: ratio(rate('flotilla'), rate('toolbox')),
    flotillaToFloor: ratio(rate('flotilla'), rate('floor')),
    flotilla2ToToolbox: ratio(rate('flotilla-2'), rate('toolbox')),
    flotilla2ToFloor: ratio(rate('flotilla-2'), rate('floor')),
  };
}

const HEADINGS = [
  'system',
  'req/s',
  'p50 ms',
  'p99 ms',
  'non-2xx',
  'failed results',
  'socket errors',
  'answer bytes',
  'server CPU ms/req',
  'Postgres CPU ms/req',
  'load gen CPU ms/req',
  'PG conns',
];

function cells(run: SystemRun): string[] {
  const cpu = (ms: number | undefined) => (ms === undefined ? 'n/a' : ms.toFixed(3));
  const { load } = run;
  return [
    run.name,
    String(load.requestsPerSecond),
    load.latencyMs.p50.toFixed(2),
    load.latencyMs.p99.toFixed(2),
    String(load.non2xx),
    String(load.failedResults),
    String(load.socketErrors),
    String(run.responseBytes),
    cpu(run.cpuMsPerRequest.server),
    cpu(run.cpuMsPerRequest.postgres),
    cpu(run.cpuMsPerRequest.loadGenerator),
    String(run.postgresConnections),
  ];
}

function ratioLines(report: BenchReport): string[] {
  const ratios = report.throughputRatios;
  const lines: string[] = [];
  const line = (label: string, ratio: number | undefined) => {
    if (ratio !== undefined) lines.push(`${label} throughput: ${ratio.toFixed(2)}×`);
  };
  line('Flotilla / Toolbox', ratios.flotillaToToolbox);
  line('Flotilla / floor', ratios.flotillaToFloor);
  line('Flotilla, 2 replicas / Toolbox', ratios.flotilla2ToToolbox);
  line('Flotilla, 2 replicas / floor', ratios.flotilla2ToFloor);
  return lines;
}

/** The side-by-side table for the terminal. */
export function formatTable(report: BenchReport): string {
  return [textTable(HEADINGS, report.runs.map(cells)), '', ...ratioLines(report)].join('\n');
}

export function formatMarkdown(report: BenchReport): string {
  const { settings, machine, dataset } = report;
  const table = markdownTable(HEADINGS, report.runs.map(cells));
  return `# Database benchmark, ${report.startedAt}

${report.runs.map((run) => `- **${run.name}**: ${run.description}`).join('\n')}

${table}

${ratioLines(report)
  .map((line) => `**${line}**`)
  .join('  \n')}

Latency is per request, measured at the load generator, over the 2xx answers; CPU is user + system
time of the processes during the measured run divided by the requests completed in it. See
[bench/README.md](../README.md) for what is measured and how to read it.

## Settings

| | |
| --- | --- |
| measured run | ${settings.durationSeconds} s after a ${settings.warmupSeconds} s warm-up, per system |
| connections | ${settings.connections} (closed loop, autocannon in the benchmark process) |
| Postgres pool per system | ${settings.poolSize} |
| MCP protocol revision | ${settings.protocol} |
| CPU profiles (Flotilla, floor) | ${settings.cpuProfile ? 'on (figures are slower than without)' : 'off'} |

## Machine

| | |
| --- | --- |
| CPU | ${machine.cpuCount} × ${machine.cpuModel} |
| memory | ${machine.totalMemoryGiB} GiB |
| OS / kernel | ${machine.os} / ${machine.kernel} |
| Node.js | ${machine.node} |
| PostgreSQL | ${machine.postgres} |
| MCP Toolbox | ${machine.toolbox} |
| Flotilla commit | ${machine.flotillaCommit} |

## Dataset

\`${dataset.table}\`: ${dataset.rows} rows, ${dataset.customers} customers with ${dataset.rows / dataset.customers} orders
each. Every request asks for a different customer, in turn, out of a fixed list.

\`\`\`sql
${dataset.statement}
\`\`\`

\`\`\`
${dataset.plan.join('\n')}
\`\`\`
`;
}

/** Writes database-<timestamp>.json and database-latest.md to `dir`; returns their paths. */
export function writeResults(report: BenchReport, dir: string): Promise<string[]> {
  return writeResultFiles(dir, 'database', report.startedAt, report, formatMarkdown(report));
}
