/**
 * `node files/curves.ts`: how read_file's throughput and p99 grow with the calls in flight (4 KiB:
 * 1, 8, 32, 128) and with the file's size (4 KiB, 256 KiB, 4 MiB, at 1 and 8 in flight), on
 * Flotilla's files server over stdio and over Streamable HTTP and on the reference server, in the
 * same alternating rounds as run.ts. Prints the tables, writes results/files-curves-<time>.json,
 * results/files-curves-latest.md and the chart results/files-curves.svg.
 * Settings: see settings.ts or `node files/curves.ts --help`.
 */
import { join } from 'node:path';
import { writeChart } from '../shared/chart.ts';
import { exitOnSignals, log } from '../shared/cli.ts';
import { describeMachine } from '../shared/machine.ts';
import {
  type CurvePoint,
  type CurvesReport,
  curvePanels,
  curveRatiosOf,
  formatCurvesTable,
  sizeLabel,
  writeCurvesResults,
} from './curves-report.ts';
import { createDataset, DOCUMENT_BYTES } from './dataset.ts';
import type { SystemInfo } from './report.ts';
import {
  checkAnswers,
  clientVersion,
  flagFailures,
  loadAverage,
  measureRounds,
  type Point,
  RESULTS_DIR,
  requireBuild,
  warmUpAll,
  withSystems,
} from './session.ts';
import { callsAtSize, readCurvesSettings, SIZE_CURVE_IN_FLIGHT } from './settings.ts';

const CHART_FILE = 'files-curves.svg';

async function main(): Promise<void> {
  const settings = readCurvesSettings();
  requireBuild();
  exitOnSignals();
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  const profileDir = `${RESULTS_DIR}profiles/files-curves-${startedAt.replace(/[:.]/g, '-')}`;
  log('building the dataset');
  const dataset = await createDataset(settings.sizes);
  log(`documents of ${dataset.documents.map((document) => sizeLabel(document.bytes)).join(', ')}`);
  const documentOf = (bytes: number) => dataset.documents.find((document) => document.bytes === bytes);
  // The two curves share their 4 KiB points at 1 and 8 in flight: each is measured once.
  const wanted = [
    ...settings.points.map((concurrency) => [DOCUMENT_BYTES, concurrency] as const),
    ...settings.sizes.flatMap((bytes) => SIZE_CURVE_IN_FLIGHT.map((concurrency) => [bytes, concurrency] as const)),
  ];
  const points: Point[] = [];
  for (const [bytes, concurrency] of wanted) {
    const document = documentOf(bytes);
    if (
      !document ||
      points.some(
        (point) => point.operation === 'read_file' && point.document === document && point.concurrency === concurrency,
      )
    )
      continue;
    points.push({ operation: 'read_file', document, concurrency, calls: callsAtSize(settings.calls, bytes) });
  }
  try {
    await withSystems(
      {
        dataset,
        systems: settings.systems,
        negotiation: settings.negotiation,
        maxInFlight: Math.max(...points.map((point) => point.concurrency)),
        profileDir: settings.cpuProfile ? profileDir : undefined,
      },
      async (systems) => {
        const infos: SystemInfo[] = [];
        for (const system of systems) {
          log(`${system.name}: checking every document's answer`);
          infos.push({
            name: system.name,
            description: system.description,
            serverVersion: system.serverVersion,
            protocolVersion: system.protocolVersion,
            tools: await checkAnswers(system, points),
          });
        }
        if (settings.warmupCalls > 0) {
          // A few of the large reads are enough to compile their path; most of the warm-up is the small one.
          await warmUpAll(systems, points, (point) =>
            point.operation === 'read_file'
              ? Math.max(3, Math.round(settings.warmupCalls * Math.min(1, 65_536 / point.document.bytes)))
              : 0,
          );
        }
        const measured = await measureRounds(settings.rounds, points, systems);
        const curvePoints: CurvePoint[] = measured.map(({ point, system, tool, rounds, median }) => ({
          bytes: point.operation === 'read_file' ? point.document.bytes : 0,
          concurrency: point.concurrency,
          system,
          tool,
          calls: point.calls,
          rounds,
          median,
        }));
        const reference = infos.find((info) => info.name === 'reference');
        const report: CurvesReport = {
          benchmark: 'files-curves',
          startedAt,
          settings,
          machine: describeMachine({
            referenceServer: reference?.serverVersion ?? 'not run',
            mcpClient: clientVersion(),
          }),
          loadAverage: { atStart: loadAtStart, atEnd: loadAverage() },
          documents: dataset.documents.map((document) => ({ name: document.name, bytes: document.bytes })),
          systems: infos,
          points: curvePoints,
          ratios: curveRatiosOf(curvePoints),
        };
        process.stdout.write(`\n${formatCurvesTable(report)}\n\n`);
        for (const file of await writeCurvesResults(report, RESULTS_DIR, CHART_FILE)) log(`wrote ${file}`);
        const chart = await writeChart(join(RESULTS_DIR, CHART_FILE), `read_file, ${startedAt}`, curvePanels(report));
        log(`wrote ${chart}`);
        if (settings.cpuProfile) log(`CPU profiles in ${profileDir}`);
        flagFailures(measured);
      },
    );
  } finally {
    await dataset.remove();
  }
}

await main();
