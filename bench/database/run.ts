/**
 * `npm run bench`: the same parameterised ten-row query, on the same Postgres, under the same load,
 * served in turn by Flotilla's database server, MCP Toolbox for Databases and a bare Node.js floor.
 * Prints a side-by-side table and writes results/database-<time>.json and results/database-latest.md.
 * With `--runs N`, does all of that N times on one Postgres, then puts a summary of the runs on the
 * latest page. Settings: see settings.ts or `node database/run.ts --help`.
 */
import { fileURLToPath } from 'node:url';
import { exitOnSignals, log } from '../shared/cli.ts';
import { describeMachine } from '../shared/machine.ts';
import { CUSTOMERS, ORDERS_PER_CUSTOMER, ordersQuery } from './dataset.ts';
import { failedRequests } from './load.ts';
import {
  type BenchReport,
  formatSummaryTable,
  formatTable,
  type SystemRun,
  throughputRatiosByProtocol,
  writeResults,
  writeSeriesPage,
} from './report.ts';
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
import { readSettings, type Settings, type SystemName } from './settings.ts';
import { toolboxVersion } from './systems/toolbox.ts';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const QUERY = ordersQuery(ORDERS_PER_CUSTOMER);

/** Start, check, warm up, measure, stop: one system in one protocol revision. */
async function measureSystem(
  session: Session,
  settings: Settings,
  name: SystemName,
  protocol: string,
  profileDir: string,
): Promise<SystemRun> {
  const context = session.context({ queries: [QUERY], connections: settings.connections, protocol });
  const profileName = settings.protocols.length > 1 && name !== 'floor' ? `${name}-${protocol}` : name;
  const nodeOptions = settings.cpuProfile ? `--cpu-prof --cpu-prof-dir=${profileDir}/${profileName}` : undefined;
  return withSystem(name, context, nodeOptions, async (system) => {
    const responseBytes = await checkQuery(system, QUERY);
    const target = loadTarget(system, [QUERY]);
    await warmUp(system, target, settings.connections, settings.warmupSeconds);
    log(`${name}: measuring for ${settings.durationSeconds} s`);
    const measurement = await measure(session, system, target, settings.connections, settings.durationSeconds);
    const { load } = measurement;
    log(`${name}: ${load.requestsPerSecond} req/s, p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms`);
    return {
      name,
      ...(name === 'floor' ? {} : { protocol }),
      description: system.description,
      responseBytes,
      ...measurement,
    };
  });
}

/**
 * Every system in its order; Flotilla once per revision asked for, Toolbox once, spoken to in the
 * first (it negotiates each revision it knows, so one run stands beside all of Flotilla's).
 */
async function runAll(session: Session, settings: Settings, profileDir: string): Promise<SystemRun[]> {
  const runs: SystemRun[] = [];
  for (const name of settings.systems) {
    const protocols = name.startsWith('flotilla') ? settings.protocols : [settings.protocol];
    for (const protocol of protocols) runs.push(await measureSystem(session, settings, name, protocol, profileDir));
  }
  return runs;
}

/** `series` says where this run stands among the `--runs`; the first run starts the series. */
async function oneRun(
  session: Session,
  settings: Settings,
  series?: { run: number; of: number; firstStartedAt?: string },
): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const profileDir = `${RESULTS_DIR}profiles/${startedAt.replace(/[:.]/g, '-')}`;
  const runs = await runAll(session, settings, profileDir);
  const byProtocol = throughputRatiosByProtocol(runs, settings.protocols);
  if (settings.cpuProfile) log(`CPU profiles in ${profileDir}`);
  return {
    benchmark: 'database',
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
      statement: QUERY.statement,
      plan: session.dataset.plans[0] ?? [],
    },
    runs,
    throughputRatios: byProtocol[settings.protocol] ?? {},
    throughputRatiosByProtocol: byProtocol,
    ...(series ? { series: { ...series, firstStartedAt: series.firstStartedAt ?? startedAt } } : {}),
  };
}

async function main(): Promise<void> {
  const settings = readSettings();
  requireBuild(settings.systems);
  exitOnSignals();
  const reports: BenchReport[] = [];
  const jsonFiles: string[] = [];
  await withSession({ poolSize: settings.poolSize, queries: [QUERY] }, async (session) => {
    for (let run = 1; run <= settings.runs; run++) {
      if (settings.runs > 1) log(`run ${run} of ${settings.runs}`);
      const series = { run, of: settings.runs, firstStartedAt: reports[0]?.startedAt };
      const report = await oneRun(session, settings, settings.runs > 1 ? series : undefined);
      reports.push(report);
      process.stdout.write(`\n${formatTable(report)}\n\n`);
      const [json, page] = await writeResults(report, RESULTS_DIR);
      for (const file of [json, page]) if (file) log(`wrote ${file}`);
      if (json) jsonFiles.push(json);
    }
  });
  if (settings.runs > 1) {
    process.stdout.write(`Summary of ${settings.runs} runs\n\n${formatSummaryTable(reports)}\n\n`);
    log(`wrote ${await writeSeriesPage(reports, jsonFiles, RESULTS_DIR)}`);
  }
  const troubled = reports.flatMap((report) => report.runs).filter((run) => failedRequests(run.load) > 0);
  if (troubled.length > 0) {
    log(`warning: ${troubled.map((run) => run.name).join(', ')} had failed requests; their figures are suspect`);
    process.exitCode = 1;
  }
}

await main();
