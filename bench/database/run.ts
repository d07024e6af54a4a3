/**
 * `npm run bench`: the same parameterised ten-row query, on the same Postgres, under the same load,
 * served in turn by Flotilla's database server, MCP Toolbox for Databases and a bare Node.js floor.
 * Prints a side-by-side table and writes results/database-<time>.json and results/database-latest.md.
 * Settings: see settings.ts or `node database/run.ts --help`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type PostgresInstance, startPostgres } from '@flotilla/testkit';
import pg from 'pg';
import { exitOnSignals, log } from '../shared/cli.ts';
import { describeMachine } from '../shared/machine.ts';
import { startCpuMeter } from './cpu.ts';
import { CUSTOMERS, customerIds, type Dataset, ORDERS_PER_CUSTOMER, prepareDataset, STATEMENT } from './dataset.ts';
import { applyLoad } from './load.ts';
import { type BenchReport, formatTable, type SystemRun, throughputRatios, writeResults } from './report.ts';
import { checkAnswers } from './sample-check.ts';
import { readSettings, type Settings, type SystemName } from './settings.ts';
import { startFloor } from './systems/floor.ts';
import { startFlotilla } from './systems/flotilla.ts';
import type { RunningSystem, SystemContext } from './systems/system.ts';
import { startToolbox, toolboxVersion } from './systems/toolbox.ts';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const FLOTILLA_MAIN = fileURLToPath(new URL('../../services/database/dist/main.js', import.meta.url));
/** Checked one by one before the load. */
const SAMPLE_CUSTOMERS = customerIds(3);
/** Cycled through under load: every request of a connection asks for the next customer. */
const LOAD_CUSTOMERS = customerIds(500);

const START: Record<SystemName, (context: SystemContext, nodeOptions?: string) => Promise<RunningSystem>> = {
  flotilla: startFlotilla,
  'flotilla-2': (context, nodeOptions) => startFlotilla(context, nodeOptions, 2),
  toolbox: (context) => startToolbox(context),
  floor: startFloor,
};

interface Session {
  readonly settings: Settings;
  readonly context: SystemContext;
  /** Superuser connection, to watch Postgres while the load runs. */
  readonly admin: pg.Client;
  /** The admin connection's backend: the way to the Postgres processes, for CPU time. */
  readonly adminBackendPid: number;
  /** Where CPU profiles go, when asked for. */
  readonly profileDir: string;
}

async function measure(session: Session, name: SystemName): Promise<SystemRun> {
  const { settings, context } = session;
  const nodeOptions = settings.cpuProfile ? `--cpu-prof --cpu-prof-dir=${session.profileDir}/${name}` : undefined;
  log(`${name}: starting`);
  const system = await START[name](context, nodeOptions);
  try {
    const responseBytes = await checkAnswers(system, SAMPLE_CUSTOMERS, ORDERS_PER_CUSTOMER);
    const target = {
      url: system.url,
      headers: system.headers,
      bodies: LOAD_CUSTOMERS.map((id) => system.requestBody(id)),
      isSuccess: system.isSuccess,
    };
    if (settings.warmupSeconds > 0) {
      log(`${name}: warming up for ${settings.warmupSeconds} s`);
      await applyLoad(target, settings.connections, settings.warmupSeconds);
    }
    log(`${name}: measuring for ${settings.durationSeconds} s`);
    const cpu = startCpuMeter(system.pids, session.adminBackendPid);
    const connectionsMidRun = countConnections(session.admin, context.runtimeUser, settings.durationSeconds * 500);
    // Handled here too, so a failed load does not leave this promise rejected with no one awaiting it.
    connectionsMidRun.catch(() => undefined);
    const load = await applyLoad(target, settings.connections, settings.durationSeconds);
    const run: SystemRun = {
      name,
      description: system.description,
      responseBytes,
      load,
      cpuMsPerRequest: cpu.perRequest(load.requests),
      postgresConnections: await connectionsMidRun,
    };
    log(`${name}: ${load.requestsPerSecond} req/s, p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms`);
    return run;
  } finally {
    // Logged because a stop that runs into its SIGKILL grace time loses the server's CPU profile.
    const stopping = Date.now();
    await system.stop();
    log(`${name}: stopped in ${Date.now() - stopping} ms`);
  }
}

/** How many connections `role` holds in Postgres after `delayMs`: each system's pool should show up full. */
async function countConnections(admin: pg.Client, role: string, delayMs: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  const sql = 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1';
  const result = await admin.query<{ n: number }>(sql, [role]);
  return result.rows[0]?.n ?? 0;
}

async function runAll(
  settings: Settings,
  postgres: PostgresInstance,
  dataset: Dataset,
  profileDir: string,
): Promise<SystemRun[]> {
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  try {
    const backend = await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const session: Session = {
      settings,
      admin,
      adminBackendPid: backend.rows[0]?.pid ?? 0,
      profileDir,
      context: {
        postgres: { host: postgres.host, port: postgres.port, database: postgres.database },
        runtimeUrl: dataset.runtimeUrl,
        runtimeUser: dataset.runtimeUser,
        runtimePassword: dataset.runtimePassword,
        statement: STATEMENT,
        poolSize: settings.poolSize,
        connections: settings.connections,
        protocol: settings.protocol,
      },
    };
    const runs: SystemRun[] = [];
    for (const name of settings.systems) runs.push(await measure(session, name));
    return runs;
  } finally {
    await admin.end();
  }
}

async function main(): Promise<void> {
  const settings = readSettings();
  if (settings.systems.some((name) => name.startsWith('flotilla')) && !existsSync(FLOTILLA_MAIN)) {
    throw new Error(`${FLOTILLA_MAIN} is missing: run \`npm run build\` at the repository root first`);
  }
  exitOnSignals();
  const startedAt = new Date().toISOString();
  const profileDir = `${RESULTS_DIR}profiles/${startedAt.replace(/[:.]/g, '-')}`;
  log('starting a throwaway PostgreSQL and seeding bench_orders');
  const postgres = await startPostgres({ database: 'bench' });
  try {
    // Room for one system's pool plus the readiness probes and cancel connections beside it.
    const dataset = await prepareDataset(postgres, settings.poolSize + 10);
    const runs = await runAll(settings, postgres, dataset, profileDir);
    const report: BenchReport = {
      benchmark: 'database',
      startedAt,
      settings,
      machine: describeMachine({
        postgres: dataset.postgresVersion,
        toolbox: settings.systems.includes('toolbox') ? toolboxVersion() : 'not run',
      }),
      dataset: {
        table: 'bench_orders',
        rows: CUSTOMERS * ORDERS_PER_CUSTOMER,
        customers: CUSTOMERS,
        statement: STATEMENT,
        plan: dataset.plan,
      },
      runs,
      throughputRatios: throughputRatios(runs),
    };
    process.stdout.write(`\n${formatTable(report)}\n\n`);
    for (const file of await writeResults(report, RESULTS_DIR)) log(`wrote ${file}`);
    if (settings.cpuProfile) log(`CPU profiles in ${profileDir}`);
    const troubled = runs.filter((run) => run.load.non2xx + run.load.failedResults + run.load.socketErrors > 0);
    if (troubled.length > 0) {
      log(`warning: ${troubled.map((run) => run.name).join(', ')} had failed requests; their figures are suspect`);
      process.exitCode = 1;
    }
  } finally {
    await postgres.destroy();
  }
}

await main();
