import { createHistogram, performance } from 'node:perf_hooks';
import type pg from 'pg';
import { type CpuPerRequest, startCpuMeter } from '../database/cpu.ts';
import type { LoadFigures } from '../database/load.ts';
import { log } from '../shared/cli.ts';
import { processesCpuMs, spent } from '../shared/cpu.ts';
import { type AcceptTarget, applyAcceptLoad } from './accepts.ts';
import type { Floor, FloorFigures } from './floor.ts';
import type { Receiver } from './receiver.ts';

/**
 * Notifications not final yet (services/notifications/src/store/notification-store.ts), written out
 * as the predicate of the table's partial index `notification_pending`, so polling it reads that index.
 */
const PENDING_COUNT = `SELECT count(*)::int AS n FROM notifications.notification
  WHERE status IN ('scheduled', 'queued', 'sending', 'retrying')`;
const POLL_MS = 100;

export interface Latency {
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface DeliveryFigures {
  /** Notifications whose accept answer the load generator received (each with a fresh key). */
  readonly accepted: number;
  /** Of those, delivered and verified at least once by the end of the drain. */
  readonly delivered: number;
  /** Accepted and never delivered by the end of the drain wait: must be 0. */
  readonly missing: number;
  /** Verified deliveries beyond the first of an id, during this step (legal, at least once, but reported). */
  readonly duplicates: number;
  /** Deliveries that failed signature verification during this step: must be 0. */
  readonly verificationFailures: number;
  /**
   * Delivered notifications the load generator never saw accepted: calls in flight when the load
   * stopped, which the server committed after autocannon had closed their connections.
   */
  readonly deliveredWithoutAnswer: number;
  /** First deliveries that arrived during the measured window, per second of it. */
  readonly perSecondDuringLoad: number;
  /** Accepted but not yet delivered when the load stopped. */
  readonly backlogAtEnd: number;
  /** First deliveries after the load stopped, per second, until the last one (the server only delivering). */
  readonly perSecondDraining: number | undefined;
  readonly drainSeconds: number;
  /** Whether every notification was final in Postgres before the drain timeout. */
  readonly drained: boolean;
  /** From the accept answer at the load generator to the verified delivery at the receiver. */
  readonly acceptToDeliveryMs: Latency;
  /** Deliveries that reached the receiver before their answer reached the load generator. */
  readonly deliveredBeforeAnswer: number;
}

export interface FlotillaStep {
  readonly concurrency: number;
  readonly warmupSeconds: number;
  readonly load: LoadFigures;
  /** 2xx answers naming an id already answered: a replayed key, which the fresh keys must rule out. */
  readonly repeatedIds: number;
  readonly deliveries: DeliveryFigures;
  /** CPU during the measured window per accepted notification; the server also delivered meanwhile. */
  readonly cpuMsPerAccept: CpuPerRequest;
  /** CPU from the start of the window to the end of the drain per notification: accepting and delivering it. */
  readonly cpuMsPerNotification: CpuPerRequest & { readonly receiver: number | undefined };
  /** Transactions Postgres committed or rolled back (whole database) from the window's start to the drain's end, per notification. */
  readonly postgresTransactionsPerNotification: number | undefined;
  /** The server's connections halfway through the window. */
  readonly connectionsMidRun: Connections;
  /** CPU after the load stopped per delivery then: what delivering alone costs (undefined without a backlog). */
  readonly cpuMsPerDeliveryDraining: { readonly server: number | undefined; readonly postgres: number | undefined };
}

export interface FloorStep {
  readonly concurrency: number;
  readonly warmupSeconds: number;
  readonly figures: FloorFigures;
  readonly acceptsPerSecond: number;
  readonly cpuMsPerAccept: CpuPerRequest;
  /** Transactions Postgres committed or rolled back (whole database) in the window, per accept. */
  readonly postgresTransactionsPerAccept: number | undefined;
  /** The floor's connections halfway through the window. */
  readonly connectionsMidRun: Connections;
}

export interface StepContext {
  readonly admin: pg.Client;
  /** The admin connection's backend: the way to the Postgres processes, for CPU time. */
  readonly adminBackendPid: number;
  readonly receiver: Receiver;
  readonly drainTimeoutMs: number;
  /** Every first delivery the receiver reported so far, id → arrival time; ids are never reused. */
  readonly deliveries: Map<string, number>;
  /** The server's and the floor's Postgres roles, to see their connections mid-run. */
  readonly roles: { readonly flotilla: string; readonly floor: string };
}

/** Connections of one role by application and state, e.g. `flotilla-notifications active: 12`. */
export type Connections = Readonly<Record<string, number>>;

/** Below this many deliveries after the load, CPU per delivery is mostly the 10 ms resolution of /proc. */
const MIN_DRAIN_DELIVERIES = 100;

const epochNow = () => performance.timeOrigin + performance.now();

/**
 * One point of Flotilla's curve: warm up and drain, then `seconds` of closed-loop accepts, then wait
 * until every notification is final in Postgres (or the drain timeout), and match the accept answers
 * with the receiver's verified deliveries.
 */
export async function measureFlotilla(
  context: StepContext,
  target: AcceptTarget & { readonly pid: number },
  point: { concurrency: number; seconds: number; warmupSeconds: number },
): Promise<FlotillaStep> {
  const { concurrency } = point;
  if (point.warmupSeconds > 0) {
    log(`flotilla c=${concurrency}: warming up for ${point.warmupSeconds} s`);
    await applyAcceptLoad(target, concurrency, point.warmupSeconds, `warmup-${concurrency}`);
    await drain(context, Date.now() + context.drainTimeoutMs);
  }
  log(`flotilla c=${concurrency}: measuring for ${point.seconds} s`);
  const before = await context.receiver.status();
  const cpu = startCpuMeter([target.pid], context.adminBackendPid);
  const receiverCpu = processesCpuMs([context.receiver.pid]);
  const transactions = await transactionCount(context.admin);
  const midRun = connectionsAfter(context.admin, context.roles.flotilla, point.seconds * 500);
  const start = epochNow();
  const run = await applyAcceptLoad(target, concurrency, point.seconds, `measure-${concurrency}`);
  const end = epochNow();
  const accepts = run.accepted.size;
  const cpuMsPerAccept = cpu.perRequest(accepts);
  const drained = await drain(context, Date.now() + context.drainTimeoutMs);
  const total = cpu.perRequest(accepts);
  const receiverMs = spent(receiverCpu, processesCpuMs([context.receiver.pid]));
  const after = await context.receiver.status();
  const transactionsSpent = (await transactionCount(context.admin)) - transactions;

  const latencies = createHistogram();
  let delivered = 0;
  let duringLoad = 0;
  let deliveredBeforeAnswer = 0;
  for (const [id, acceptedAt] of run.accepted) {
    const deliveredAt = context.deliveries.get(id);
    if (deliveredAt === undefined) continue;
    delivered += 1;
    if (deliveredAt <= end) duringLoad += 1;
    if (deliveredAt < acceptedAt) deliveredBeforeAnswer += 1;
    latencies.record(Math.max(1, Math.round((deliveredAt - acceptedAt) * 1000)));
  }
  const unanswered = [...drained.taken.keys()].filter((id) => !run.accepted.has(id));
  const afterLoad = [...drained.taken.values()].filter((at) => at > end);
  const lastDelivery = afterLoad.reduce((latest, at) => Math.max(latest, at), end);
  const windowSeconds = (end - start) / 1000;
  // Both figures are per accepted notification since the window began: their difference is the drain's.
  const perDrainDelivery = (windowMs: number | undefined, totalMs: number | undefined) =>
    windowMs === undefined || totalMs === undefined || afterLoad.length < MIN_DRAIN_DELIVERIES
      ? undefined
      : ((totalMs - windowMs) * accepts) / afterLoad.length;
  const ms = (micros: number) => Math.round(micros) / 1000;
  const deliveries: DeliveryFigures = {
    accepted: accepts,
    delivered,
    missing: accepts - delivered,
    duplicates: after.duplicates - before.duplicates,
    verificationFailures: after.failures - before.failures,
    deliveredWithoutAnswer: unanswered.length,
    perSecondDuringLoad: Math.round(duringLoad / windowSeconds),
    backlogAtEnd: accepts - duringLoad,
    perSecondDraining:
      afterLoad.length > 0 && lastDelivery > end
        ? Math.round(afterLoad.length / ((lastDelivery - end) / 1000))
        : undefined,
    drainSeconds: Math.round(lastDelivery - end) / 1000,
    drained: drained.complete,
    acceptToDeliveryMs: {
      mean: ms(latencies.mean),
      p50: ms(latencies.percentile(50)),
      p99: ms(latencies.percentile(99)),
      max: ms(latencies.max),
    },
    deliveredBeforeAnswer,
  };
  log(
    `flotilla c=${concurrency}: ${run.load.requestsPerSecond} accepts/s (p99 ${run.load.latencyMs.p99} ms), ` +
      `${deliveries.perSecondDuringLoad} deliveries/s during the load, accept→delivery p50 ` +
      `${deliveries.acceptToDeliveryMs.p50} ms, p99 ${deliveries.acceptToDeliveryMs.p99} ms, drained in ` +
      `${deliveries.drainSeconds} s`,
  );
  return {
    concurrency,
    warmupSeconds: point.warmupSeconds,
    load: run.load,
    repeatedIds: run.repeatedIds,
    deliveries,
    cpuMsPerAccept,
    cpuMsPerNotification: {
      ...total,
      receiver: receiverMs === undefined || accepts === 0 ? undefined : receiverMs / accepts,
    },
    postgresTransactionsPerNotification: perOne(transactionsSpent, accepts),
    connectionsMidRun: await midRun,
    cpuMsPerDeliveryDraining: {
      server: perDrainDelivery(cpuMsPerAccept.server, total.server),
      postgres: perDrainDelivery(cpuMsPerAccept.postgres, total.postgres),
    },
  };
}

/**
 * Waits until no notification is pending in Postgres (every one delivered, failed or cancelled) or
 * the deadline passes, collecting the receiver's first deliveries meanwhile. A worker records the
 * outcome only after the receiver answered, so once nothing is pending the receiver has counted
 * every delivery there will be.
 */
export async function drain(
  context: StepContext,
  deadline: number,
): Promise<{ complete: boolean; taken: Map<string, number> }> {
  const taken = new Map<string, number>();
  while (true) {
    const { rows } = await context.admin.query<{ n: number }>(PENDING_COUNT);
    for (const [id, at] of await context.receiver.take()) {
      taken.set(id, at);
      context.deliveries.set(id, at);
    }
    const pending = rows[0]?.n ?? 0;
    if (pending === 0) return { complete: true, taken };
    if (Date.now() > deadline) {
      log(`warning: ${pending} notifications still pending after the drain timeout`);
      return { complete: false, taken };
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** One point of the floor's curve: warm up, then `seconds` of back-to-back accepts at `concurrency`. */
export async function measureFloor(
  context: StepContext,
  floor: Floor,
  point: { concurrency: number; seconds: number; warmupSeconds: number },
): Promise<FloorStep> {
  const { concurrency } = point;
  if (point.warmupSeconds > 0) {
    log(`floor c=${concurrency}: warming up for ${point.warmupSeconds} s`);
    await floor.run(concurrency, point.warmupSeconds, `warmup-${concurrency}`);
  }
  log(`floor c=${concurrency}: measuring for ${point.seconds} s`);
  const cpu = startCpuMeter([floor.pid], context.adminBackendPid);
  const transactions = await transactionCount(context.admin);
  const midRun = connectionsAfter(context.admin, context.roles.floor, point.seconds * 500);
  const figures = await floor.run(concurrency, point.seconds, `measure-${concurrency}`);
  const cpuMsPerAccept = cpu.perRequest(figures.accepts);
  const transactionsSpent = (await transactionCount(context.admin)) - transactions;
  const acceptsPerSecond = Math.round(figures.accepts / figures.seconds);
  log(`floor c=${concurrency}: ${acceptsPerSecond} accepts/s (p99 ${figures.latencyMs.p99} ms)`);
  return {
    concurrency,
    warmupSeconds: point.warmupSeconds,
    figures,
    acceptsPerSecond,
    cpuMsPerAccept,
    postgresTransactionsPerAccept: perOne(transactionsSpent, figures.accepts),
    connectionsMidRun: await midRun,
  };
}

/**
 * Transactions of the whole database so far. Backends report them within a second or so (and this
 * admin connection's own polling counts too), so per-notification figures are approximate.
 */
async function transactionCount(admin: pg.Client): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    'SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(rows[0]?.n ?? 0);
}

function perOne(total: number, count: number): number | undefined {
  return count === 0 ? undefined : Math.round((total / count) * 100) / 100;
}

/** The connections `role` holds after `delayMs`, by application and state. */
async function connectionsAfter(admin: pg.Client, role: string, delayMs: number): Promise<Connections> {
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  try {
    const { rows } = await admin.query<{ what: string; n: number }>(
      `SELECT application_name || ' ' || coalesce(state, 'unknown') AS what, count(*)::int AS n
         FROM pg_stat_activity WHERE usename = $1 GROUP BY 1 ORDER BY 1`,
      [role],
    );
    return Object.fromEntries(rows.map((row) => [row.what, row.n]));
  } catch (error) {
    // A look at the pool, not a figure of the run: the measurement stands without it.
    log(`warning: could not read pg_stat_activity: ${(error as Error).message}`);
    return {};
  }
}
