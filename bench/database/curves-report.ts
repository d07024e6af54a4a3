import type { Panel } from '../shared/chart.ts';
import { markdownTable, textTable } from '../shared/results.ts';
import {
  cells,
  type DatabaseMachine,
  formatRatio,
  HEADINGS,
  machineSection,
  RATIOS,
  type Ratios,
  ratiosOf,
} from './report.ts';
import type { Measurement } from './session.ts';
import type { CurveSettings, SystemName } from './settings.ts';

/** One point measured on one system: so many connections, answers of so many rows. */
export interface CurvePoint extends Measurement {
  readonly connections: number;
  readonly rows: number;
  /** Size of one answer as the server sends it. */
  readonly responseBytes: number;
}

export interface SystemCurves {
  readonly name: SystemName;
  /** The MCP revision it was spoken to in; absent for the floor. */
  readonly protocol?: string;
  readonly description: string;
  /** In the order measured; a point both curves share is measured once. */
  readonly points: readonly CurvePoint[];
}

/** A point of a curve across the systems, with Flotilla's throughput ratios there. */
export interface CurveRow {
  readonly connections: number;
  readonly rows: number;
  readonly throughputRatios: Ratios;
}

export interface CurvesReport {
  readonly benchmark: 'database-curves';
  readonly startedAt: string;
  readonly settings: CurveSettings;
  readonly machine: DatabaseMachine;
  readonly dataset: {
    readonly table: string;
    readonly rows: number;
    readonly customers: number;
    readonly queries: readonly {
      readonly rows: number;
      readonly statement: string;
      readonly plan: readonly string[];
    }[];
  };
  readonly systems: readonly SystemCurves[];
  /** Throughput and latency against load-generator connections, ten rows per answer. */
  readonly concurrency: readonly CurveRow[];
  /** Throughput and latency against rows per answer, at `settings.connections`. */
  readonly resultSize: readonly CurveRow[];
}

/** The ten-row query of the concurrency curve. */
export const CONCURRENCY_ROWS = 10;

function pointOf(system: SystemCurves, connections: number, rows: number): CurvePoint | undefined {
  return system.points.find((point) => point.connections === connections && point.rows === rows);
}

/** The rows of both curves, with the ratios at each point, from what each system measured. */
export function curveRows(settings: CurveSettings, systems: readonly SystemCurves[]) {
  const row = (connections: number, rows: number): CurveRow => ({
    connections,
    rows,
    throughputRatios: ratiosOf((name) => {
      const system = systems.find((candidate) => candidate.name === name);
      return system && pointOf(system, connections, rows)?.load.requestsPerSecond;
    }),
  });
  return {
    concurrency: settings.points.map((connections) => row(connections, CONCURRENCY_ROWS)),
    resultSize: settings.rows.map((rows) => row(settings.connections, rows)),
  };
}

/** The ratios both of whose systems ran. */
function ratioColumns(report: CurvesReport) {
  const ran = (name: SystemName) => report.systems.some((system) => system.name === name);
  const systemsOf: Record<keyof Ratios, readonly SystemName[]> = {
    flotillaToToolbox: ['flotilla', 'toolbox'],
    flotillaToFloor: ['flotilla', 'floor'],
    flotilla2ToToolbox: ['flotilla-2', 'toolbox'],
    flotilla2ToFloor: ['flotilla-2', 'floor'],
  };
  return RATIOS.filter(([key]) => systemsOf[key].every(ran));
}

type Figure = (point: CurvePoint) => string;

const FIGURES: Record<'req/s' | 'p99 ms' | 'answer bytes', Figure> = {
  'req/s': (point) => String(point.load.requestsPerSecond),
  'p99 ms': (point) => point.load.latencyMs.p99.toFixed(2),
  'answer bytes': (point) => String(point.responseBytes),
};

/** One curve as a table: a row per point, a column per system and figure, then the ratios. */
function curveTable(report: CurvesReport, curve: 'concurrency' | 'resultSize') {
  const figures =
    curve === 'concurrency' ? (['req/s', 'p99 ms'] as const) : (['req/s', 'p99 ms', 'answer bytes'] as const);
  const ratios = ratioColumns(report);
  const headings = [
    curve === 'concurrency' ? 'connections' : 'rows',
    ...figures.flatMap((figure) => report.systems.map((system) => `${system.name} ${figure}`)),
    ...ratios.map(([, label]) => label),
  ];
  const rows = report[curve].map((row) => [
    String(curve === 'concurrency' ? row.connections : row.rows),
    ...figures.flatMap((figure) =>
      report.systems.map((system) => {
        const point = pointOf(system, row.connections, row.rows);
        return point ? FIGURES[figure](point) : 'n/a';
      }),
    ),
    ...ratios.map(([key]) => formatRatio(row.throughputRatios[key])),
  ]);
  return { headings, rows };
}

function titles(report: CurvesReport) {
  const { settings } = report;
  return {
    concurrency: `Concurrency: ${CONCURRENCY_ROWS} rows per answer, ${settings.points.join(', ')} connections`,
    resultSize: `Result size: ${settings.connections} connections, ${settings.rows.join(', ')} rows per answer`,
  };
}

/** Both curves for the terminal. */
export function formatCurveTables(report: CurvesReport): string {
  const title = titles(report);
  const table = (curve: 'concurrency' | 'resultSize') => {
    const { headings, rows } = curveTable(report, curve);
    return textTable(headings, rows);
  };
  return `${title.concurrency}\n\n${table('concurrency')}\n\n${title.resultSize}\n\n${table('resultSize')}`;
}

/** The four panels: throughput and p99 against connections, then against rows; a line per system. */
export function chartPanels(report: CurvesReport): Panel[] {
  const series = (curve: 'concurrency' | 'resultSize', y: (point: CurvePoint) => number) =>
    report.systems.map((system) => ({
      name: system.name,
      points: report[curve].flatMap((row) => {
        const point = pointOf(system, row.connections, row.rows);
        return point ? [{ x: curve === 'concurrency' ? row.connections : row.rows, y: y(point) }] : [];
      }),
    }));
  const requests = (point: CurvePoint) => point.load.requestsPerSecond;
  const p99 = (point: CurvePoint) => point.load.latencyMs.p99;
  const { settings } = report;
  return [
    {
      title: `req/s, ${CONCURRENCY_ROWS} rows`,
      xTitle: 'connections',
      yTitle: 'req/s',
      series: series('concurrency', requests),
    },
    {
      title: `p99 latency, ${CONCURRENCY_ROWS} rows`,
      xTitle: 'connections',
      yTitle: 'p99 ms',
      yScale: 'log',
      series: series('concurrency', p99),
    },
    {
      title: `req/s, ${settings.connections} connections`,
      xTitle: 'rows per answer',
      yTitle: 'req/s',
      series: series('resultSize', requests),
    },
    {
      title: `p99 latency, ${settings.connections} connections`,
      xTitle: 'rows per answer',
      yTitle: 'p99 ms',
      yScale: 'log',
      series: series('resultSize', p99),
    },
  ];
}

export function chartTitle(report: CurvesReport): string {
  const { machine } = report;
  return `Database benchmark curves, ${report.startedAt} (${machine.cpuCount} × ${machine.cpuModel}, Flotilla ${machine.flotillaCommit})`;
}

export function formatCurvesMarkdown(report: CurvesReport, chartFile: string): string {
  const { settings, dataset } = report;
  const title = titles(report);
  const table = (curve: 'concurrency' | 'resultSize') => {
    const { headings, rows } = curveTable(report, curve);
    return markdownTable(headings, rows);
  };
  const details = report.systems.flatMap((system) =>
    system.points.map((point) =>
      cells(`${system.name}, ${point.connections} conns, ${point.rows} rows`, point.responseBytes, point),
    ),
  );
  const shared = settings.points.includes(settings.connections) && settings.rows.includes(CONCURRENCY_ROWS);
  return `# Database benchmark curves, ${report.startedAt}

${report.systems.map((system) => `- **${system.name}**: ${system.description}`).join('\n')}

![Throughput and p99 latency against connections and rows per answer](${chartFile})

## ${title.concurrency}

${table('concurrency')}

## ${title.resultSize}

${table('resultSize')}

Each system was started once and measured at every point: a ${settings.warmupSeconds} s warm-up (all
statements in turn, at ${settings.connections} connections), then ${settings.durationSeconds} s per point.${
    shared
      ? ` The ${CONCURRENCY_ROWS}-row point of the result-size curve is the ${settings.connections}-connection point of the
concurrency curve, measured once.`
      : ''
  } Flotilla's \`query\` calls ask for \`maxRows\` equal to the
size when it is above the tool's default of 100 rows, with \`DB_MAX_ROWS\` at least the largest size, so
every answer is whole (each size's row count is checked before its load). Latency is at the load
generator over the 2xx answers. A closed loop: compare systems at the same point, not points with
each other. See [bench/README.md](../README.md) for what is measured and how to read it.

## Every point

${markdownTable(HEADINGS, details)}

## Settings

| | |
| --- | --- |
| measured run | ${settings.durationSeconds} s per point, after a ${settings.warmupSeconds} s warm-up per system |
| connections | ${settings.points.join(', ')} (concurrency curve); ${settings.connections} (result-size curve) |
| rows per answer | ${CONCURRENCY_ROWS} (concurrency curve); ${settings.rows.join(', ')} (result-size curve) |
| Postgres pool per system | ${settings.poolSize} |
| MCP protocol revision | ${settings.protocol} |

${machineSection(report.machine)}

## Dataset

\`${dataset.table}\`: ${dataset.rows} rows, ${dataset.customers} customers with ${dataset.rows / dataset.customers} orders
each. Every request asks for a different (first) customer, in turn, out of a fixed list.

${dataset.queries
  .map(
    (query) => `### ${query.rows} rows

\`\`\`sql
${query.statement}
\`\`\`

\`\`\`
${query.plan.join('\n')}
\`\`\``,
  )
  .join('\n\n')}
`;
}
