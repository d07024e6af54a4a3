import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type Machine, machineSection as sharedMachineSection } from '../shared/machine.ts';
import { markdownTable, textTable, writeResults as writeResultFiles } from '../shared/results.ts';
import type { Measurement } from './session.ts';
import type { Settings, SystemName } from './settings.ts';

export interface SystemRun extends Measurement {
  readonly name: SystemName;
  /** The MCP revision it was spoken to in; absent for the floor, which speaks plain JSON. */
  readonly protocol?: string;
  readonly description: string;
  /** Size of one answer (ten rows) as the server sends it. */
  readonly responseBytes: number;
}

export type DatabaseMachine = Machine & { readonly postgres: string; readonly toolbox: string };

/** Flotilla's requests/s divided by the other system's, when both ran. */
export interface Ratios {
  readonly flotillaToToolbox?: number;
  readonly flotillaToFloor?: number;
  readonly flotilla2ToToolbox?: number;
  readonly flotilla2ToFloor?: number;
}

export interface BenchReport {
  readonly benchmark: 'database';
  readonly startedAt: string;
  readonly settings: Settings;
  readonly machine: DatabaseMachine;
  readonly dataset: {
    readonly table: string;
    readonly rows: number;
    readonly customers: number;
    readonly statement: string;
    readonly plan: readonly string[];
  };
  readonly runs: readonly SystemRun[];
  /** With Flotilla spoken to in `settings.protocol`, the revision Toolbox is spoken to in. */
  readonly throughputRatios: Ratios;
  /** The same for every revision Flotilla was measured in. */
  readonly throughputRatiosByProtocol: Readonly<Record<string, Ratios>>;
  /** Where this run stands among those of one `--runs N` command. */
  readonly series?: { readonly run: number; readonly of: number; readonly firstStartedAt: string };
}

/** Every ratio the reports show, with its label. */
export const RATIOS: readonly (readonly [keyof Ratios, string])[] = [
  ['flotillaToToolbox', 'Flotilla / Toolbox'],
  ['flotillaToFloor', 'Flotilla / floor'],
  ['flotilla2ToToolbox', 'Flotilla, 2 replicas / Toolbox'],
  ['flotilla2ToFloor', 'Flotilla, 2 replicas / floor'],
];

/** The ratios of the requests per second `rate` gives for each system (undefined: not run). */
export function ratiosOf(rate: (name: SystemName) => number | undefined): Ratios {
  const ratio = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b ? Math.round((a / b) * 1000) / 1000 : undefined;
  return {
    flotillaToToolbox: ratio(rate('flotilla'), rate('toolbox')),
    flotillaToFloor: ratio(rate('flotilla'), rate('floor')),
    flotilla2ToToolbox: ratio(rate('flotilla-2'), rate('toolbox')),
    flotilla2ToFloor: ratio(rate('flotilla-2'), rate('floor')),
  };
}

/** The run of `name` as measured beside Flotilla in `protocol`: Toolbox and the floor ran once for all. */
function runIn(runs: readonly SystemRun[], name: SystemName, protocol: string): SystemRun | undefined {
  const flotilla = name.startsWith('flotilla');
  return runs.find((run) => run.name === name && (!flotilla || run.protocol === protocol));
}

export function throughputRatiosByProtocol(runs: readonly SystemRun[], protocols: readonly string[]) {
  return Object.fromEntries(
    protocols.map((protocol) => [protocol, ratiosOf((name) => runIn(runs, name, protocol)?.load.requestsPerSecond)]),
  ) as Record<string, Ratios>;
}

export const HEADINGS = [
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

/** One row under HEADINGS: `label` names the system (and the point, in the curves). */
export function cells(label: string, responseBytes: number, measurement: Measurement): string[] {
  const cpu = (ms: number | undefined) => (ms === undefined ? 'n/a' : ms.toFixed(3));
  const { load, cpuMsPerRequest } = measurement;
  return [
    label,
    String(load.requestsPerSecond),
    load.latencyMs.p50.toFixed(2),
    load.latencyMs.p99.toFixed(2),
    String(load.non2xx),
    String(load.failedResults),
    String(load.socketErrors),
    String(responseBytes),
    cpu(cpuMsPerRequest.server),
    cpu(cpuMsPerRequest.postgres),
    cpu(cpuMsPerRequest.loadGenerator),
    String(measurement.postgresConnections),
  ];
}

export const formatRatio = (ratio: number | undefined) => (ratio === undefined ? 'n/a' : `${ratio.toFixed(2)}×`);

/** With several revisions, each run says which one it was spoken to in. */
function label(run: SystemRun, settings: Settings): string {
  return settings.protocols.length > 1 && run.protocol ? `${run.name} ${run.protocol}` : run.name;
}

function runRows(report: BenchReport): string[][] {
  return report.runs.map((run) => cells(label(run, report.settings), run.responseBytes, run));
}

function ratioLines(report: BenchReport): string[] {
  const several = report.settings.protocols.length > 1;
  return Object.entries(report.throughputRatiosByProtocol).flatMap(([protocol, ratios]) =>
    RATIOS.flatMap(([key, name]) => {
      const ratio = ratios[key];
      return ratio === undefined ? [] : [`${name}${several ? ` (${protocol})` : ''} throughput: ${formatRatio(ratio)}`];
    }),
  );
}

/**
 * What bounds one Flotilla process: its JavaScript runs on one event loop, so at the measured server
 * CPU per request it serves about 1000 / that many requests a second, whatever the cores (a little
 * more, as the figure also counts its helper threads: GC, the libuv pool); and the CPU per request
 * it would need to match Toolbox's rate on that one loop.
 */
function boundLines(report: BenchReport): string[] {
  const several = report.settings.protocols.length > 1;
  const toolbox = report.runs.find((run) => run.name === 'toolbox')?.load.requestsPerSecond;
  return report.runs.flatMap((run) => {
    const cpu = run.cpuMsPerRequest.server;
    if (run.name !== 'flotilla' || cpu === undefined || cpu <= 0) return [];
    const at = several && run.protocol ? ` (${run.protocol})` : '';
    const match = toolbox ? `; Toolbox's ${toolbox} req/s needs at most ${(1000 / toolbox).toFixed(3)} ms` : '';
    return [
      `Flotilla${at} event-loop bound: at ${cpu.toFixed(3)} ms of server CPU per request, one event loop serves ` +
        `about ${Math.floor(1000 / cpu)} req/s (measured ${run.load.requestsPerSecond})${match}`,
    ];
  });
}

/** The side-by-side table for the terminal. */
export function formatTable(report: BenchReport): string {
  return [textTable(HEADINGS, runRows(report)), '', ...ratioLines(report), ...boundLines(report)].join('\n');
}

function runSection(report: BenchReport): string {
  return `${markdownTable(HEADINGS, runRows(report))}

${[...ratioLines(report), ...boundLines(report)].map((line) => `**${line}**`).join('  \n')}`;
}

/** What each system is, once, also when it ran in several revisions. */
function systemsList(report: BenchReport): string {
  const descriptions = new Map(report.runs.map((run) => [run.name, run.description]));
  return [...descriptions].map(([name, description]) => `- **${name}**: ${description}`).join('\n');
}

export function machineSection(machine: DatabaseMachine): string {
  return sharedMachineSection(machine, [
    ['PostgreSQL', machine.postgres],
    ['MCP Toolbox', machine.toolbox],
  ]);
}

function protocolCell(settings: Settings): string {
  if (settings.protocols.length === 1) return settings.protocol;
  return `${settings.protocols.join(', ')} for Flotilla, each beside the same Toolbox run, in ${settings.protocol}`;
}

/** Settings, machine and dataset: the same for every run of one command. */
function aboutSections(report: BenchReport): string {
  const { settings, machine, dataset } = report;
  return `Latency is per request, measured at the load generator, over the 2xx answers; CPU is user + system
time of the processes during the measured run divided by the requests completed in it. See
[bench/README.md](../README.md) for what is measured and how to read it.

## Settings

| | |
| --- | --- |
| measured run | ${settings.durationSeconds} s after a ${settings.warmupSeconds} s warm-up, per system |
| connections | ${settings.connections} (closed loop, autocannon in the benchmark process) |
| Postgres pool per system | ${settings.poolSize} |
| MCP protocol revision | ${protocolCell(settings)} |
${settings.runs > 1 ? `| runs | ${settings.runs}, one after the other on one Postgres |\n` : ''}| CPU profiles (Flotilla, floor) | ${settings.cpuProfile ? 'on (figures are slower than without)' : 'off'} |

${machineSection(machine)}

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

export function formatMarkdown(report: BenchReport): string {
  return `# Database benchmark, ${report.startedAt}

${systemsList(report)}

${runSection(report)}

${aboutSections(report)}`;
}

/** Writes database-<timestamp>.json and database-latest.md to `dir`; returns their paths. */
export function writeResults(report: BenchReport, dir: string): Promise<string[]> {
  return writeResultFiles(dir, 'database', report.startedAt, report, formatMarkdown(report));
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** A column of the summary: a figure of one run in one revision. */
interface SummaryColumn {
  readonly heading: string;
  readonly value: (report: BenchReport, protocol: string) => number | undefined;
  readonly format: (value: number) => string;
}

function summaryColumns(settings: Settings): SummaryColumn[] {
  const figures = (name: SystemName): SummaryColumn[] => [
    {
      heading: `${name} req/s`,
      value: (report, protocol) => runIn(report.runs, name, protocol)?.load.requestsPerSecond,
      format: (value) => String(Math.round(value)),
    },
    {
      heading: `${name} p99 ms`,
      value: (report, protocol) => runIn(report.runs, name, protocol)?.load.latencyMs.p99,
      format: (value) => value.toFixed(2),
    },
  ];
  const ratio = (key: keyof Ratios, heading: string): SummaryColumn => ({
    heading,
    value: (report, protocol) => report.throughputRatiosByProtocol[protocol]?.[key],
    format: formatRatio,
  });
  const ran = (name: SystemName) => settings.systems.includes(name);
  return [
    ...(['flotilla', 'flotilla-2', 'toolbox'] as const).filter(ran).flatMap(figures),
    ...(ran('toolbox') && ran('flotilla') ? [ratio('flotillaToToolbox', 'Flotilla / Toolbox')] : []),
    ...(ran('toolbox') && ran('flotilla-2') ? [ratio('flotilla2ToToolbox', 'Flotilla, 2 replicas / Toolbox')] : []),
  ];
}

/**
 * One row per run and revision, then per revision the median of each column over the runs: each
 * median is taken on its own, so the median ratio need not be the ratio of the median req/s.
 */
function summary(reports: readonly BenchReport[]): { headings: string[]; rows: string[][] } {
  const { settings } = reports[0] as BenchReport;
  const columns = summaryColumns(settings);
  const show = (column: SummaryColumn, value: number | undefined) =>
    value === undefined ? 'n/a' : column.format(value);
  const rows = settings.protocols.flatMap((protocol) => [
    ...reports.map((report, index) => [
      `${index + 1} (${report.startedAt.slice(11, 19)})`,
      protocol,
      ...columns.map((column) => show(column, column.value(report, protocol))),
    ]),
    [
      'median',
      protocol,
      ...columns.map((column) =>
        show(
          column,
          median(reports.map((report) => column.value(report, protocol)).filter((value) => value !== undefined)),
        ),
      ),
    ],
  ]);
  return { headings: ['run', 'protocol', ...columns.map((column) => column.heading)], rows };
}

export function formatSummaryTable(reports: readonly BenchReport[]): string {
  const { headings, rows } = summary(reports);
  return textTable(headings, rows);
}

/** The page of a `--runs N` command: the summary over the runs, then each run's table. */
export function formatSeriesMarkdown(reports: readonly BenchReport[], jsonFiles: readonly string[]): string {
  const first = reports[0] as BenchReport;
  const { headings, rows } = summary(reports);
  return `# Database benchmark, ${reports.length} runs from ${first.startedAt}

${systemsList(first)}

## Summary

${markdownTable(headings, rows, 2)}

Each median is over the runs, per column. Every run's figures are in its own file:
${jsonFiles.map((file) => `\`results/${basename(file)}\``).join(', ')}.

${reports
  .map(
    (report, index) => `## Run ${index + 1} of ${reports.length}, ${report.startedAt}

${runSection(report)}
`,
  )
  .join('\n')}
${aboutSections(first)}`;
}

/** Replaces the latest page with the series page; the runs' JSON files stay as they were written. */
export async function writeSeriesPage(
  reports: readonly BenchReport[],
  jsonFiles: readonly string[],
  dir: string,
): Promise<string> {
  // The name shared/results.ts gives the latest page.
  const page = join(dir, 'database-latest.md');
  await writeFile(page, formatSeriesMarkdown(reports, jsonFiles));
  return page;
}
