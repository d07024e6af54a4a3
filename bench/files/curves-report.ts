import type { Panel } from '../shared/chart.ts';
import { type Machine, machineSection } from '../shared/machine.ts';
import { markdownTable, textTable, writeResults as writeResultFiles } from '../shared/results.ts';
import { DOCUMENT_BYTES } from './dataset.ts';
import type { Segment } from './measure.ts';
import { FIGURES_TEXT, type SystemInfo, systemsList, transportsText } from './report.ts';
import { type CurvesSettings, MIN_CALLS, SIZE_CURVE_IN_FLIGHT } from './settings.ts';
import type { SystemName } from './systems/system.ts';

/** read_file of one document size at one concurrency on one system: every round, and their median. */
export interface CurvePoint {
  readonly bytes: number;
  readonly concurrency: number;
  readonly system: SystemName;
  readonly tool: string;
  readonly calls: number;
  readonly rounds: readonly Segment[];
  readonly median: Segment;
}

/** One system divided by another at one point, from the medians: calls/s above 1 and p99 below 1 favour `system`. */
export interface CurveRatio {
  readonly bytes: number;
  readonly concurrency: number;
  readonly system: SystemName;
  readonly against: SystemName;
  readonly callsPerSecond: number;
  readonly p99Latency: number;
}

export interface CurvesReport {
  readonly benchmark: 'files-curves';
  readonly startedAt: string;
  readonly settings: CurvesSettings;
  readonly machine: Machine & { readonly referenceServer: string; readonly mcpClient: string };
  /** os.loadavg() when the run started and when it ended (which includes this run's own load). */
  readonly loadAverage: { readonly atStart: readonly number[]; readonly atEnd: readonly number[] };
  readonly documents: readonly { readonly name: string; readonly bytes: number }[];
  readonly systems: readonly SystemInfo[];
  /** The concurrency curve (4 KiB, every --points) and the size curve (every --sizes, in flight 1 and 8); shared points once. */
  readonly points: readonly CurvePoint[];
  readonly ratios: readonly CurveRatio[];
}

/** Each of Flotilla's systems beside the reference server, and Flotilla over HTTP beside Flotilla over stdio. */
const RATIO_PAIRS: readonly (readonly [SystemName, SystemName])[] = [
  ['flotilla', 'reference'],
  ['flotilla-http', 'reference'],
  ['flotilla-http', 'flotilla'],
];

export function curveRatiosOf(points: readonly CurvePoint[]): CurveRatio[] {
  const round = (value: number) => Math.round(value * 1000) / 1000;
  return RATIO_PAIRS.flatMap(([system, against]) =>
    points
      .filter((point) => point.system === system)
      .flatMap((mine) => {
        const other = points.find(
          (point) => point.system === against && point.bytes === mine.bytes && point.concurrency === mine.concurrency,
        );
        if (!other) return [];
        return [
          {
            bytes: mine.bytes,
            concurrency: mine.concurrency,
            system,
            against,
            callsPerSecond: round(mine.median.callsPerSecond / other.median.callsPerSecond),
            p99Latency: round(mine.median.latencyMs.p99 / other.median.latencyMs.p99),
          },
        ];
      }),
  );
}

export function sizeLabel(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

const HEADINGS = [
  'size',
  'in flight',
  'system',
  'calls',
  'calls/s',
  'p50 ms',
  'p99 ms',
  'failed',
  'server CPU ms/call',
  'client CPU ms/call',
  'calls/s ÷ ref',
  'p99 ÷ ref',
];

function rows(report: CurvesReport, points: readonly CurvePoint[]): string[][] {
  const ratio = (point: CurvePoint) =>
    report.ratios.find(
      (r) =>
        r.system === point.system &&
        r.against === 'reference' &&
        r.bytes === point.bytes &&
        r.concurrency === point.concurrency,
    );
  return points.map((point) => {
    const { median } = point;
    const against = ratio(point);
    return [
      sizeLabel(point.bytes),
      String(point.concurrency),
      point.system,
      String(point.calls),
      String(median.callsPerSecond),
      median.latencyMs.p50.toFixed(3),
      median.latencyMs.p99.toFixed(3),
      String(median.failures),
      median.serverCpuMsPerCall === undefined ? 'n/a' : median.serverCpuMsPerCall.toFixed(3),
      median.clientCpuMsPerCall.toFixed(3),
      against ? `${against.callsPerSecond.toFixed(2)}×` : '',
      against ? `${against.p99Latency.toFixed(2)}×` : '',
    ];
  });
}

/** The two curves as row sets: by concurrency at 4 KiB, and by size (ordered by size, then concurrency). */
function curves(report: CurvesReport): { byInFlight: CurvePoint[]; bySize: CurvePoint[] } {
  const { settings } = report;
  const order = (a: CurvePoint, b: CurvePoint) =>
    a.bytes - b.bytes ||
    a.concurrency - b.concurrency ||
    settings.systems.indexOf(a.system) - settings.systems.indexOf(b.system);
  return {
    byInFlight: report.points
      .filter((point) => point.bytes === DOCUMENT_BYTES && settings.points.includes(point.concurrency))
      .sort(order),
    bySize: report.points
      .filter(
        (point) =>
          settings.sizes.includes(point.bytes) &&
          (SIZE_CURVE_IN_FLIGHT as readonly number[]).includes(point.concurrency),
      )
      .sort(order),
  };
}

/**
 * Why the stdio figures at large sizes are the client's: the official client's stdio ReadBuffer
 * appends each pipe chunk to the whole message so far (Buffer.concat) and searches it for the
 * newline again, so one answer costs time quadratic in its size, the same for both stdio servers.
 */
const STDIO_CLIENT_NOTE =
  'At large sizes, watch the client CPU column: the official StdioClientTransport concatenates each pipe chunk onto ' +
  'the message read so far and searches it again for the end of line, so the client spends time quadratic in the ' +
  "answer's size (two copies of the text per answer), the same for both stdio servers, and over stdio the client, " +
  'not the server, sets calls/s; there, compare server CPU per call.';

const RATIO_NOTE =
  '÷ ref: the system divided by the reference server over stdio at the same point (calls/s above 1× and p99 below 1× favour it).';

export function formatCurvesTable(report: CurvesReport): string {
  const { byInFlight, bySize } = curves(report);
  const httpRatios = report.ratios.filter((ratio) => ratio.system === 'flotilla-http' && ratio.against === 'flotilla');
  return [
    'read_file 4 KiB by calls in flight:',
    textTable(HEADINGS, rows(report, byInFlight)),
    '',
    'read_file by file size:',
    textTable(HEADINGS, rows(report, bySize)),
    '',
    RATIO_NOTE,
    STDIO_CLIENT_NOTE,
    ...(httpRatios.length > 0
      ? [
          '',
          'flotilla-http ÷ flotilla (stdio):',
          textTable(
            ['size', 'in flight', 'calls/s ×', 'p99 ×'],
            httpRatios.map((ratio) => [
              sizeLabel(ratio.bytes),
              String(ratio.concurrency),
              `${ratio.callsPerSecond.toFixed(2)}×`,
              `${ratio.p99Latency.toFixed(2)}×`,
            ]),
          ),
        ]
      : []),
  ].join('\n');
}

/** The four panels: calls/s and p99 against calls in flight (4 KiB), and against file size (one line per system and concurrency, "flotilla ×8"). */
export function curvePanels(report: CurvesReport): Panel[] {
  const { byInFlight, bySize } = curves(report);
  const systems = report.settings.systems;
  const byConcurrency = (pick: (point: CurvePoint) => number) =>
    systems.map((system) => ({
      name: system,
      points: byInFlight
        .filter((point) => point.system === system)
        .map((point) => ({ x: point.concurrency, y: pick(point) })),
    }));
  const bySizeSeries = (pick: (point: CurvePoint) => number) =>
    systems.flatMap((system) =>
      SIZE_CURVE_IN_FLIGHT.map((concurrency) => ({
        name: `${system} ×${concurrency}`,
        points: bySize
          .filter((point) => point.system === system && point.concurrency === concurrency)
          .map((point) => ({ x: point.bytes / 1024, y: pick(point) })),
      })),
    );
  const callsPerSecond = (point: CurvePoint) => point.median.callsPerSecond;
  const p99 = (point: CurvePoint) => point.median.latencyMs.p99;
  return [
    {
      title: 'read_file 4 KiB: calls/s',
      xTitle: 'calls in flight',
      yTitle: 'calls/s',
      series: byConcurrency(callsPerSecond),
    },
    { title: 'read_file 4 KiB: p99', xTitle: 'calls in flight', yTitle: 'p99 ms', series: byConcurrency(p99) },
    {
      title: 'read_file by size: calls/s',
      xTitle: 'file size (KiB)',
      yTitle: 'calls/s',
      yScale: 'log',
      series: bySizeSeries(callsPerSecond),
    },
    {
      title: 'read_file by size: p99',
      xTitle: 'file size (KiB)',
      yTitle: 'p99 ms',
      yScale: 'log',
      series: bySizeSeries(p99),
    },
  ];
}

export function formatCurvesMarkdown(report: CurvesReport, chartFile: string): string {
  const { settings, machine } = report;
  const { byInFlight, bySize } = curves(report);
  const httpRatios = report.ratios.filter((ratio) => ratio.system === 'flotilla-http' && ratio.against === 'flotilla');
  return `# Files benchmark, read_file curves, ${report.startedAt}

${systemsList(report.systems)}

${transportsText(machine.mcpClient, settings.negotiation)} Figures are medians over ${settings.rounds} rounds.

![read_file curves](${chartFile})

## By calls in flight (4 KiB)

${markdownTable(HEADINGS, rows(report, byInFlight), 3)}

## By file size (in flight ${SIZE_CURVE_IN_FLIGHT.join(' and ')})

${markdownTable(HEADINGS, rows(report, bySize), 3)}

${RATIO_NOTE}

${STDIO_CLIENT_NOTE}
${
  httpRatios.length > 0
    ? `
**flotilla-http ÷ flotilla** (the same server over Streamable HTTP with auth and rate limit, against stdio):

${markdownTable(
  ['size', 'in flight', 'calls/s ×', 'p99 ×'],
  httpRatios.map((ratio) => [
    sizeLabel(ratio.bytes),
    String(ratio.concurrency),
    `${ratio.callsPerSecond.toFixed(2)}×`,
    `${ratio.p99Latency.toFixed(2)}×`,
  ]),
  1,
)}
`
    : ''
}
${FIGURES_TEXT} Every answer (each size, each system) is checked once before any timing: the whole text,
byte for byte. Flotilla runs with \`FILES_MAX_READ_BYTES\` at least its 4 MiB default and at least the largest
size, so every document is returned in one read; the reference server's \`read_text_file\` reads whole files.

## Settings

| | |
| --- | --- |
| rounds | ${settings.rounds}, alternating the systems' order; each figure is the median |
| calls per round, system and point | ${settings.calls} up to 64 KiB, fewer in proportion above (at least ${MIN_CALLS}; the p99 of few calls is close to their slowest): ${report.documents.map((document) => `${sizeLabel(document.bytes)} ${report.points.find((point) => point.bytes === document.bytes)?.calls ?? '–'}`).join(', ')} |
| in flight (4 KiB) | ${settings.points.join(', ')} |
| sizes (in flight ${SIZE_CURVE_IN_FLIGHT.join(' and ')}) | ${settings.sizes.map(sizeLabel).join(', ')} |
| warm-up | ${settings.warmupCalls} calls of the 4 KiB read per system, fewer for larger documents, before the first round |
| systems | ${settings.systems.join(', ')} |
| CPU profiles | ${settings.cpuProfile ? 'on (figures are slower than without)' : 'off'} |

${machineSection(machine, [
  [
    'load average (1, 5, 15 min)',
    `${report.loadAverage.atStart.join(', ')} at the start; ${report.loadAverage.atEnd.join(', ')} at the end, this run included`,
  ],
  ['reference server', machine.referenceServer],
  ['MCP client', machine.mcpClient],
])}
`;
}

/** Writes files-curves-<timestamp>.json and files-curves-latest.md to `dir`; returns their paths. */
export function writeCurvesResults(report: CurvesReport, dir: string, chartFile: string): Promise<string[]> {
  return writeResultFiles(dir, 'files-curves', report.startedAt, report, formatCurvesMarkdown(report, chartFile));
}
