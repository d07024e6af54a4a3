import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@flotilla/testkit';
import pg from 'pg';
import { log } from '../shared/cli.ts';
import { type CpuPerRequest, startCpuMeter } from './cpu.ts';
import { customerIds, type Dataset, type OrdersQuery, prepareDataset } from './dataset.ts';
import { applyLoad, type LoadFigures, type LoadTarget } from './load.ts';
import { checkAnswers } from './sample-check.ts';
import type { SystemName } from './settings.ts';
import { startFloor } from './systems/floor.ts';
import { startFlotilla } from './systems/flotilla.ts';
import type { RunningSystem, SystemContext } from './systems/system.ts';
import { startToolbox } from './systems/toolbox.ts';

/**
 * The steps run.ts and curves.ts share: one throwaway Postgres with the dataset for the whole
 * process, and per system: start it, check a few answers by hand, put load on it, stop it.
 */

const FLOTILLA_MAIN = fileURLToPath(new URL('../../services/database/dist/main.js', import.meta.url));
/** Checked one by one before the load. */
const SAMPLE_ANSWERS = 3;
/** Cycled through under load: every request of a connection asks for the next customer. */
const LOAD_ANSWERS = 500;

const START: Record<SystemName, (context: SystemContext, nodeOptions?: string) => Promise<RunningSystem>> = {
  flotilla: startFlotilla,
  'flotilla-2': (context, nodeOptions) => startFlotilla(context, nodeOptions, 2),
  toolbox: (context) => startToolbox(context),
  floor: startFloor,
};

export interface Session {
  readonly dataset: Dataset;
  /** Superuser connection, to watch Postgres while the load runs. */
  readonly admin: pg.Client;
  /** The admin connection's backend: the way to the Postgres processes, for CPU time. */
  readonly adminBackendPid: number;
  /** What a system is started with; the rest (database, role, pool) is the same for every system. */
  context(options: { queries: readonly OrdersQuery[]; connections: number; protocol: string }): SystemContext;
}

/** What one stretch of load on one system measured. */
export interface Measurement {
  readonly load: LoadFigures;
  /** CPU milliseconds per request answered in the measured run. */
  readonly cpuMsPerRequest: CpuPerRequest;
  /** Connections the runtime role held in Postgres halfway through the measured run. */
  readonly postgresConnections: number;
}

/** Fails early, with what to do, when Flotilla is to be measured but not built. */
export function requireBuild(systems: readonly SystemName[]): void {
  if (systems.some((name) => name.startsWith('flotilla')) && !existsSync(FLOTILLA_MAIN)) {
    throw new Error(`${FLOTILLA_MAIN} is missing: run \`npm run build\` at the repository root first`);
  }
}

/**
 * Starts Postgres, seeds it (explaining `queries` for the report) and runs `body` with it; Postgres
 * is stopped and deleted afterwards, also when `body` fails.
 */
export async function withSession<T>(
  options: { poolSize: number; queries: readonly OrdersQuery[] },
  body: (session: Session) => Promise<T>,
): Promise<T> {
  log('starting a throwaway PostgreSQL and seeding bench_orders');
  const postgres = await startPostgres({ database: 'bench' });
  try {
    // Room for one system's pool plus the readiness probes and cancel connections beside it.
    const dataset = await prepareDataset(postgres, options.poolSize + 10, options.queries);
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    try {
      const backend = await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      return await body({
        dataset,
        admin,
        adminBackendPid: backend.rows[0]?.pid ?? 0,
        context: ({ queries, connections, protocol }) => ({
          postgres: { host: postgres.host, port: postgres.port, database: postgres.database },
          runtimeUrl: dataset.runtimeUrl,
          runtimeUser: dataset.runtimeUser,
          runtimePassword: dataset.runtimePassword,
          queries,
          poolSize: options.poolSize,
          connections,
          protocol,
        }),
      });
    } finally {
      await admin.end();
    }
  } finally {
    await postgres.destroy();
  }
}

/**
 * Starts `name`, runs `body` with it and stops it, also when `body` fails. The stop is logged
 * because one that runs into its SIGKILL grace time loses the server's CPU profile.
 */
export async function withSystem<T>(
  name: SystemName,
  context: SystemContext,
  nodeOptions: string | undefined,
  body: (system: RunningSystem) => Promise<T>,
): Promise<T> {
  log(`${name}: starting`);
  const system = await START[name](context, nodeOptions);
  try {
    return await body(system);
  } finally {
    const stopping = Date.now();
    await system.stop();
    log(`${name}: stopped in ${Date.now() - stopping} ms`);
  }
}

/** Checks a few answers of `query` by hand (see sample-check.ts) and returns the size of one. */
export function checkQuery(system: RunningSystem, query: OrdersQuery): Promise<number> {
  return checkAnswers(system, query, customerIds(SAMPLE_ANSWERS, query.customers));
}

/** The requests of `queries` for the load generator, taking turns when there are several. */
export function loadTarget(system: RunningSystem, queries: readonly OrdersQuery[]): LoadTarget {
  const customers = queries.map((query) => customerIds(LOAD_ANSWERS, query.customers));
  return {
    url: system.url,
    requests: Array.from({ length: LOAD_ANSWERS }, (_, index) =>
      queries.map((query, which) => system.request(query, customers[which]?.[index] ?? 1)),
    ).flat(),
    isSuccess: system.isSuccess,
  };
}

/** Load whose figures are thrown away: JIT, statement caches, pool connections. */
export async function warmUp(system: RunningSystem, target: LoadTarget, connections: number, seconds: number) {
  if (seconds === 0) return;
  log(`${system.name}: warming up for ${seconds} s`);
  await applyLoad(target, connections, seconds);
}

/** Measures `connections` connections of load on `system` for `seconds`, with CPU and pool use. */
export async function measure(
  session: Session,
  system: RunningSystem,
  target: LoadTarget,
  connections: number,
  seconds: number,
): Promise<Measurement> {
  const cpu = startCpuMeter(system.pids, session.adminBackendPid);
  const runtimeUser = session.dataset.runtimeUser;
  const connectionsMidRun = countConnections(session.admin, runtimeUser, seconds * 500);
  // Handled here too, so a failed load does not leave this promise rejected with no one awaiting it.
  connectionsMidRun.catch(() => undefined);
  const load = await applyLoad(target, connections, seconds);
  return { load, cpuMsPerRequest: cpu.perRequest(load.requests), postgresConnections: await connectionsMidRun };
}

/** How many connections `role` holds in Postgres after `delayMs`: each system's pool should show up full. */
async function countConnections(admin: pg.Client, role: string, delayMs: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  const sql = 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1';
  const result = await admin.query<{ n: number }>(sql, [role]);
  return result.rows[0]?.n ?? 0;
}
