/**
 * Scaling curves of the database benchmark: throughput and p99 latency of each system against the
 * load generator's connections (the ten-row query) and against rows per answer (at one number of
 * connections). Each system is started once, warmed up once and measured at every point. Prints
 * both curves as tables and writes results/database-curves-<time>.json,
 * results/database-curves-latest.md and the chart results/database-curves.svg.
 * Settings: see settings.ts or `node database/curves.ts --help`.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeChart } from '../shared/chart.ts';
import { exitOnSignals, log } from '../shared/cli.ts';
import { describeMachine } from '../shared/machine.ts';
import { writeResults } from '../shared/results.ts';
import {
  CONCURRENCY_ROWS,
  type CurvePoint,
  type CurvesReport,
  chartPanels,
  chartTitle,
  curveRows,
  formatCurvesMarkdown,
  formatCurveTables,
  type SystemCurves,
} from './curves-report.ts';
import { CUSTOMERS, ORDERS_PER_CUSTOMER, type OrdersQuery, ordersQuery } from './dataset.ts';
import { failedRequests } from './load.ts';
import {
  checkQuery,
  loadTarget,
  measure,
  requireBuild,
  type Session,
  warmUp,
  withSession,
  withSystem,
} from './session.ts';
import { type CurveSettings, readCurveSettings, type SystemName } from './settings.ts';
import { toolboxVersion } from './systems/toolbox.ts';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const CHART_FILE = 'database-curves.svg';

/** Both curves' points, in the order measured; one they share is measured once. */
function pointsOf(settings: CurveSettings, queries: ReadonlyMap<number, OrdersQuery>) {
  const all = [
    ...settings.points.map((connections) => ({ connections, rows: CONCURRENCY_ROWS })),
    ...settings.rows.map((rows) => ({ connections: settings.connections, rows })),
  ];
  const unique = all.filter(
    (point, index) =>
      all.findIndex((other) => other.connections === point.connections && other.rows === point.rows) === index,
  );
  return unique.map((point) => ({ connections: point.connections, query: queries.get(point.rows) as OrdersQuery }));
}

async function measureCurves(
  session: Session,
  settings: CurveSettings,
  name: SystemName,
  queries: ReadonlyMap<number, OrdersQuery>,
): Promise<SystemCurves> {
  const points = pointsOf(settings, queries);
  const context = session.context({
    queries: [...queries.values()],
    // Flotilla's MAX_INFLIGHT follows this: the most connections of any point.
    connections: Math.max(...points.map((point) => point.connections)),
    protocol: settings.protocol,
  });
  return withSystem(name, context, undefined, async (system) => {
    const bytes = new Map<number, number>();
    for (const query of queries.values()) bytes.set(query.rows, await checkQuery(system, query));
    await warmUp(system, loadTarget(system, [...queries.values()]), settings.connections, settings.warmupSeconds);
    const measured: CurvePoint[] = [];
    for (const { connections, query } of points) {
      log(`${name}: ${connections} connections, ${query.rows} rows, ${settings.durationSeconds} s`);
      const target = loadTarget(system, [query]);
      const measurement = await measure(session, system, target, connections, settings.durationSeconds);
      const { load } = measurement;
      log(`${name}: ${load.requestsPerSecond} req/s, p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms`);
      measured.push({ connections, rows: query.rows, responseBytes: bytes.get(query.rows) ?? 0, ...measurement });
    }
    return {
      name,
      ...(name === 'floor' ? {} : { protocol: settings.protocol }),
      description: system.description,
      points: measured,
    };
  });
}

async function main(): Promise<void> {
  const settings = readCurveSettings();
  requireBuild(settings.systems);
  exitOnSignals();
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const sizes = [...new Set([CONCURRENCY_ROWS, ...settings.rows])].sort((a, b) => a - b);
  const queries = new Map(sizes.map((rows) => [rows, ordersQuery(rows)]));
  const report = await withSession({ poolSize: settings.poolSize, queries: [...queries.values()] }, async (session) => {
    const systems: SystemCurves[] = [];
    for (const name of settings.systems) systems.push(await measureCurves(session, settings, name, queries));
    const measured: CurvesReport = {
      benchmark: 'database-curves',
      startedAt,
      settings,
      machine: describeMachine({
        postgres: session.dataset.postgresVersion,
        toolbox: settings.systems.includes('toolbox') ? toolboxVersion() : 'not run',
      }),
      dataset: {
        table: 'bench_orders',
        rows: CUSTOMERS * ORDERS_PER_CUSTOMER,
        customers: CUSTOMERS,
        queries: [...queries.values()].map((query, index) => ({
          rows: query.rows,
          statement: query.statement,
          plan: session.dataset.plans[index] ?? [],
        })),
      },
      systems,
      ...curveRows(settings, systems),
    };
    return measured;
  });
  process.stdout.write(`\n${formatCurveTables(report)}\n\n`);
  const files = await writeResults(
    RESULTS_DIR,
    'database-curves',
    startedAt,
    report,
    formatCurvesMarkdown(report, CHART_FILE),
  );
  files.push(await writeChart(join(RESULTS_DIR, CHART_FILE), chartTitle(report), chartPanels(report)));
  for (const file of files) log(`wrote ${file}`);
  log(`took ${Math.round((Date.now() - started) / 1000)} s`);
  const troubled = report.systems.filter((system) => system.points.some((point) => failedRequests(point.load) > 0));
  if (troubled.length > 0) {
    log(`warning: ${troubled.map((system) => system.name).join(', ')} had failed requests; their figures are suspect`);
    process.exitCode = 1;
  }
}

await main();
