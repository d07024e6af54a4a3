/**
 * `node notifications/run.ts`: durable accepts of send_notification over MCP, their verified
 * deliveries to a Standard Webhooks receiver, and the floor beside them (a bare Node.js loop doing
 * the same INSERT and pg-boss send in one transaction), on one Postgres, at several concurrencies.
 * Prints tables, writes results/notifications-<time>.json, results/notifications-latest.md and
 * results/notifications-curves.svg. Settings: settings.ts or `node notifications/run.ts --help`.
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@flotilla/testkit';
import pg from 'pg';
import { writeChart } from '../shared/chart.ts';
import { exitOnSignals, log } from '../shared/cli.ts';
import { describeMachine } from '../shared/machine.ts';
import { writeResults } from '../shared/results.ts';
import { checkAccept } from './accepts.ts';
import { type Database, FLOOR_ROLE, NOTIFICATIONS_MAIN, prepareDatabase, RUNTIME_ROLE } from './database.ts';
import { startFloor } from './floor.ts';
import { startFlotilla } from './flotilla.ts';
import { startReceiver } from './receiver.ts';
import { type BenchReport, curvePanels, formatMarkdown, formatText, summarize } from './report.ts';
import { readSettings, type Settings, serverPoolSize } from './settings.ts';
import { drain, type FloorStep, type FlotillaStep, measureFloor, measureFlotilla, type StepContext } from './steps.ts';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
/** How long a worker may hold a job: the server's NOTIFY_DELIVERY_TIMEOUT_MS default (10 s) + 5 s. */
const EXPIRE_IN_SECONDS = 15;

interface Point {
  readonly concurrency: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
}

/** The curve's concurrencies in ascending order, `connections` among them with the full duration. */
function pointsOf(settings: Settings): Point[] {
  const levels = [...new Set([...settings.curve, settings.connections])].sort((a, b) => a - b);
  return levels.map((concurrency) =>
    concurrency === settings.connections
      ? { concurrency, seconds: settings.durationSeconds, warmupSeconds: settings.warmupSeconds }
      : { concurrency, seconds: settings.curveDurationSeconds, warmupSeconds: settings.curveWarmupSeconds },
  );
}

interface Runs {
  readonly flotilla: FlotillaStep[];
  readonly floor: FloorStep[];
  readonly serverSettings: Readonly<Record<string, string>>;
  readonly answerBytes: number;
}

/**
 * Both systems stay up for the whole run and each point is measured on Flotilla and right after on
 * the floor, so load from elsewhere on the machine falls on both alike. The idle one costs little:
 * the server's idle workers poll twice a second, the floor does nothing.
 */
async function runBoth(
  settings: Settings,
  database: Database,
  context: StepContext,
  points: readonly Point[],
  profileDir: string | undefined,
): Promise<Runs> {
  log('starting the notifications server and the floor');
  const server = await startFlotilla({
    runtimeUrl: database.runtimeUrl,
    receiver: context.receiver,
    workerConcurrency: settings.workerConcurrency,
    maxInflight: Math.max(64, ...points.map((point) => point.concurrency)),
    protocol: settings.protocol,
    nodeOptions: profileDir ? `--cpu-prof --cpu-prof-dir=${profileDir}` : undefined,
  });
  try {
    const floor = await startFloor({
      databaseUrl: database.floorUrl,
      poolSize: settings.floorPoolSize,
      expireInSeconds: EXPIRE_IN_SECONDS,
    });
    try {
      const target = { url: server.url, headers: server.headers, protocol: settings.protocol, pid: server.pid };
      const sample = await checkAccept(target, 'sample-check');
      await drain(context, Date.now() + context.drainTimeoutMs);
      if (!context.deliveries.has(sample.id)) {
        const { firstFailure } = await context.receiver.status();
        throw new Error(`the sample notification ${sample.id} was not delivered: ${firstFailure ?? 'nothing arrived'}`);
      }
      const runs: Runs = { flotilla: [], floor: [], serverSettings: server.settings, answerBytes: sample.bytes };
      for (const point of points) {
        runs.flotilla.push(await measureFlotilla(context, target, point));
        runs.floor.push(await measureFloor(context, floor, point));
      }
      return runs;
    } finally {
      await floor.stop();
    }
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const settings = readSettings();
  if (!existsSync(NOTIFICATIONS_MAIN)) {
    throw new Error(`${NOTIFICATIONS_MAIN} is missing: run \`npm run build\` at the repository root first`);
  }
  exitOnSignals();
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  const points = pointsOf(settings);
  log('starting a throwaway PostgreSQL and preparing the roles, schemas and queues');
  const postgres = await startPostgres({ database: 'notifications' });
  try {
    // The server's pools (workers + 5, pg-boss's workers + 2, LISTEN) or the floor's, and room beside them.
    const connectionLimit = Math.max(serverPoolSize(settings.workerConcurrency) * 2, settings.floorPoolSize) + 20;
    const database = await prepareDatabase(postgres, {
      connectionLimit,
      synchronousCommit: settings.synchronousCommit,
    });
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    const receiver = await startReceiver();
    try {
      const backend = await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const context: StepContext = {
        admin,
        adminBackendPid: backend.rows[0]?.pid ?? 0,
        receiver,
        drainTimeoutMs: settings.drainTimeoutSeconds * 1000,
        deliveries: new Map(),
        roles: { flotilla: RUNTIME_ROLE, floor: FLOOR_ROLE },
      };
      const profileDir = settings.cpuProfile
        ? join(RESULTS_DIR, 'profiles', `notifications-${startedAt.replace(/[:.]/g, '-')}`)
        : undefined;
      const runs = await runBoth(settings, database, context, points, profileDir);
      if (profileDir) log(`the server's CPU profile is in ${profileDir}`);
      const finalStates = await admin.query<{ status: string; n: number; resent: number }>(
        `SELECT status, count(*)::int AS n, count(*) FILTER (WHERE attempts > 1)::int AS resent
           FROM notifications.notification GROUP BY status ORDER BY status`,
      );
      const report: BenchReport = {
        benchmark: 'notifications',
        startedAt,
        settings,
        server: {
          ...runs.serverSettings,
          postgresPool: String(serverPoolSize(settings.workerConcurrency)),
          pgBossPool: String(settings.workerConcurrency + 2),
        },
        postgresSettings: {
          ...database.sessionSettings,
          note:
            'the test kit runs Postgres with fsync=off, synchronous_commit=off and full_page_writes=off; ' +
            (settings.synchronousCommit
              ? 'this run set synchronous_commit=on for both roles (commits wait for their WAL write, but with fsync=off it is not flushed to disk)'
              : 'commits do not wait for the WAL'),
        },
        machine: describeMachine({ postgres: database.postgresVersion, pgBoss: database.pgBossVersion }),
        loadAverage: { atStart: loadAtStart, atEnd: loadAverage() },
        answerBytes: runs.answerBytes,
        flotilla: runs.flotilla,
        floor: runs.floor,
        finalStates: finalStates.rows,
        summary: summarize(settings, runs.flotilla, runs.floor, cpus().length),
      };
      process.stdout.write(`\n${formatText(report)}\n\n`);
      const files = await writeResults(RESULTS_DIR, 'notifications', startedAt, report, formatMarkdown(report));
      files.push(
        await writeChart(
          join(RESULTS_DIR, 'notifications-curves.svg'),
          'Notifications: send_notification accepted durably, Flotilla beside the floor',
          curvePanels(report),
        ),
      );
      for (const file of files) log(`wrote ${file}`);
      if (report.summary.problems.length > 0) {
        for (const problem of report.summary.problems) log(`error: ${problem}`);
        log('the figures describe a failure, not the server');
        process.exitCode = 1;
      }
    } finally {
      await receiver.stop();
      await admin.end();
    }
  } finally {
    await postgres.destroy();
  }
}

/** os.loadavg() over 1, 5 and 15 minutes: how busy the machine was besides this run. */
function loadAverage(): number[] {
  return loadavg().map((load) => Math.round(load * 100) / 100);
}

await main();
