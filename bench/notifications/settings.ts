import { parseArgs } from 'node:util';
import { positiveInt as atLeastOne, nonNegativeInt as count } from '../shared/cli.ts';

export interface Settings {
  /** Seconds measured at `connections`, the run's headline figures. */
  readonly durationSeconds: number;
  /** Seconds of load before each measurement at `connections`, discarded (and drained before measuring). */
  readonly warmupSeconds: number;
  /** Calls in flight for the headline figures (closed loop), for Flotilla and the floor alike. */
  readonly connections: number;
  /** The other concurrencies of the scaling curve, measured more briefly; `connections` is always on it. */
  readonly curve: readonly number[];
  readonly curveDurationSeconds: number;
  readonly curveWarmupSeconds: number;
  /** NOTIFY_WORKER_CONCURRENCY of the server: deliveries at a time, and its Postgres pool (this + 5). */
  readonly workerConcurrency: number;
  /** Postgres connections of the floor's pool. */
  readonly floorPoolSize: number;
  /** How long to wait, after each measurement, for every accepted notification to be delivered. */
  readonly drainTimeoutSeconds: number;
  /** synchronous_commit=on for the server's and the floor's roles (the test kit's cluster runs with it off). */
  readonly synchronousCommit: boolean;
  /** The MCP protocol revision on the wire. */
  readonly protocol: string;
  /** Whether the server writes a V8 CPU profile to results/profiles/ (it runs slower for it). */
  readonly cpuProfile: boolean;
}

/**
 * NOTIFY_WORKER_CONCURRENCY is 5 in production; here it is 10. Each worker delivers one job at a
 * time (a fetch and a claim, the POST, then a four-statement transaction recording the outcome),
 * and in the `all` role the workers share the server's one event loop and its Postgres pool
 * (concurrency + 5) with the accepts, so under accept load deliveries fall behind. With 5 they fell
 * further behind (19-66 deliveries/s against 81-94 with 10, at 32 in flight, in runs beside other
 * work). Neither pool was full mid-run (3-5 idle connections, most of the rest idle in transaction,
 * waiting for the server's busy event loop): the server's CPU is the limit, so more workers, on two
 * cores, only compete for it. The floor's pool is the server's by default.
 */
const DEFAULTS = {
  duration: 10,
  warmup: 2,
  connections: 32,
  curve: [1, 8, 32, 128],
  curveDuration: 4,
  curveWarmup: 1,
  workerConcurrency: 10,
  drainTimeout: 30,
};
const POOL_BEYOND_WORKERS = 5;

const USAGE = `Usage: node notifications/run.ts [--duration S] [--warmup S] [--connections N] [--curve N,N,…]
                                     [--curve-duration S] [--curve-warmup S] [--worker-concurrency N]
                                     [--floor-pool N] [--drain-timeout S] [--synchronous-commit on|off]
                                     [--protocol REVISION] [--cpu-prof]
  --duration S            seconds measured at --connections (default ${DEFAULTS.duration})
  --warmup S              seconds of load before that, not counted (default ${DEFAULTS.warmup})
  --connections N         calls in flight for the headline figures (default ${DEFAULTS.connections})
  --curve N,N,…           concurrencies of the scaling curve (default ${DEFAULTS.curve.join(',')})
  --curve-duration S      seconds measured at each other point of the curve (default ${DEFAULTS.curveDuration})
  --curve-warmup S        seconds of warm-up before those (default ${DEFAULTS.curveWarmup})
  --worker-concurrency N  the server's NOTIFY_WORKER_CONCURRENCY (default ${DEFAULTS.workerConcurrency}; pool = N + ${POOL_BEYOND_WORKERS})
  --floor-pool N          Postgres connections of the floor (default: the server's pool, N + ${POOL_BEYOND_WORKERS})
  --drain-timeout S       wait at most this long for all deliveries after each measurement (default ${DEFAULTS.drainTimeout})
  --synchronous-commit X  on: ALTER ROLE … SET synchronous_commit = on for the server's and the floor's roles
                          (the test kit's Postgres runs with fsync, synchronous_commit and full_page_writes off)
  --protocol REVISION     the MCP revision spoken to the server (default 2026-07-28)
  --cpu-prof              a V8 CPU profile of the server to results/profiles/ (slows it down)
Each can also be set in the environment: BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_NOTIFY_CURVE,
BENCH_NOTIFY_CURVE_DURATION, BENCH_NOTIFY_CURVE_WARMUP, NOTIFY_WORKER_CONCURRENCY, BENCH_POOL_SIZE,
BENCH_NOTIFY_DRAIN_TIMEOUT, BENCH_SYNCHRONOUS_COMMIT, BENCH_PROTOCOL, BENCH_CPU_PROF=1.`;

/** Flags win over environment variables (nested npm scripts pass only the latter along). */
export function readSettings(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      curve: { type: 'string' },
      'curve-duration': { type: 'string' },
      'curve-warmup': { type: 'string' },
      'worker-concurrency': { type: 'string' },
      'floor-pool': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'synchronous-commit': { type: 'string' },
      protocol: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const workerConcurrency = bounded(
    'worker-concurrency',
    positiveInt(
      'worker-concurrency',
      values['worker-concurrency'] ?? env.NOTIFY_WORKER_CONCURRENCY,
      DEFAULTS.workerConcurrency,
    ),
    80,
  );
  return {
    durationSeconds: positiveInt('duration', values.duration ?? env.BENCH_DURATION, DEFAULTS.duration),
    warmupSeconds: count('warmup', values.warmup ?? env.BENCH_WARMUP, DEFAULTS.warmup, USAGE),
    connections: bounded(
      'connections',
      positiveInt('connections', values.connections ?? env.BENCH_CONNECTIONS, DEFAULTS.connections),
      1000,
    ),
    curve: curveOf(values.curve ?? env.BENCH_NOTIFY_CURVE),
    curveDurationSeconds: positiveInt(
      'curve-duration',
      values['curve-duration'] ?? env.BENCH_NOTIFY_CURVE_DURATION,
      DEFAULTS.curveDuration,
    ),
    curveWarmupSeconds: count(
      'curve-warmup',
      values['curve-warmup'] ?? env.BENCH_NOTIFY_CURVE_WARMUP,
      DEFAULTS.curveWarmup,
      USAGE,
    ),
    workerConcurrency,
    // The test kit's Postgres allows 200 connections; the floor runs while the server is stopped.
    floorPoolSize: bounded(
      'floor-pool',
      positiveInt('floor-pool', values['floor-pool'] ?? env.BENCH_POOL_SIZE, workerConcurrency + POOL_BEYOND_WORKERS),
      150,
    ),
    drainTimeoutSeconds: positiveInt(
      'drain-timeout',
      values['drain-timeout'] ?? env.BENCH_NOTIFY_DRAIN_TIMEOUT,
      DEFAULTS.drainTimeout,
    ),
    synchronousCommit: onOff(values['synchronous-commit'] ?? env.BENCH_SYNCHRONOUS_COMMIT),
    protocol: values.protocol ?? env.BENCH_PROTOCOL ?? '2026-07-28',
    cpuProfile: values['cpu-prof'] ?? ['1', 'true'].includes(env.BENCH_CPU_PROF ?? ''),
  };
}

/** The server's Postgres pool in the `all` role (services/notifications/src/server.ts). */
export function serverPoolSize(workerConcurrency: number): number {
  return workerConcurrency + POOL_BEYOND_WORKERS;
}

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  return atLeastOne(name, raw, fallback, USAGE);
}

function bounded(name: string, value: number, max: number): number {
  if (value > max) throw new Error(`--${name} must be at most ${max}, got ${value}`);
  return value;
}

function curveOf(raw: string | undefined): number[] {
  if (!raw?.trim()) return [...DEFAULTS.curve];
  return raw.split(',').map((item) => bounded('curve', positiveInt('curve', item.trim(), 1), 1000));
}

function onOff(raw: string | undefined): boolean {
  if (raw === undefined || raw === '' || raw === 'off') return false;
  if (raw === 'on') return true;
  throw new Error(`--synchronous-commit must be on or off, got "${raw}"\n${USAGE}`);
}
