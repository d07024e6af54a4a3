import { parseArgs } from 'node:util';
import { positiveInt as atLeastOne, nonNegativeInt as count } from '../shared/cli.ts';
import { MAX_QUERY_ROWS, ORDERS_PER_CUSTOMER } from './dataset.ts';

export const SYSTEM_NAMES = ['flotilla', 'flotilla-2', 'toolbox', 'floor'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** What both entry points share: the pool, the systems and how the MCP servers are spoken to. */
interface CommonSettings {
  /** Postgres connections each system may open; the same for all. */
  readonly poolSize: number;
  /** Which systems to run, in this order. */
  readonly systems: readonly SystemName[];
  /** The MCP protocol revision on the wire: what the official client negotiates with both servers by default. */
  readonly protocol: string;
}

/** `run.ts`: one point, as many times and in as many protocol revisions as asked. */
export interface Settings extends CommonSettings {
  /** Seconds of load whose figures are kept. */
  readonly durationSeconds: number;
  /** Seconds of load before it, discarded: JIT, statement caches, pool connections. */
  readonly warmupSeconds: number;
  /** Concurrent HTTP connections the load generator keeps busy. */
  readonly connections: number;
  /** Whether the Node.js servers (Flotilla, floor) write a V8 CPU profile to results/profiles/. */
  readonly cpuProfile: boolean;
  /** Complete runs one after the other on the same Postgres, each written as its own result. */
  readonly runs: number;
  /**
   * The revisions Flotilla is measured in, each beside the one Toolbox run of its round; the first is
   * `protocol`, the one Toolbox is spoken to in.
   */
  readonly protocols: readonly string[];
}

/** `curves.ts`: each system started once and measured at every point of both curves. */
export interface CurveSettings extends CommonSettings {
  /** Seconds of load whose figures are kept, per point. */
  readonly durationSeconds: number;
  /** Seconds of load per system before its first point, discarded. */
  readonly warmupSeconds: number;
  /** Load-generator connections of the concurrency curve, measured with the ten-row query. */
  readonly points: readonly number[];
  /** Result sizes of the result-size curve. */
  readonly rows: readonly number[];
  /** Load-generator connections of the result-size curve. */
  readonly connections: number;
}

const DEFAULTS = { duration: 10, warmup: 3, connections: 32, pool: 10, protocol: '2026-07-28', runs: 1 };
const CURVE_DEFAULTS = {
  duration: 5,
  warmup: 3,
  connections: 32,
  points: [1, 8, 32, 128],
  rows: [10, 100, 1000],
  systems: ['flotilla', 'toolbox', 'floor'] as SystemName[],
};
/** The test kit's Postgres allows 200 connections; each system is stopped before the next starts. */
const MAX_POOL = 150;
const MAX_CONNECTIONS = 1024;

const USAGE = `Usage: node database/run.ts [--duration S] [--warmup S] [--connections N] [--pool N]
                                [--systems ${SYSTEM_NAMES.join(',')}] [--cpu-prof] [--runs N]
                                [--protocol REVISION | --protocols REVISION,REVISION]
Each can also be set in the environment: BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_POOL_SIZE,
BENCH_SYSTEMS, BENCH_CPU_PROF=1, BENCH_RUNS, BENCH_PROTOCOL, BENCH_PROTOCOLS.
With several revisions, Flotilla is measured in each and Toolbox once, in the first.`;

const CURVE_USAGE = `Usage: node database/curves.ts [--duration S] [--warmup S] [--points N,N,...] [--rows N,N,...]
                                   [--connections N] [--pool N] [--systems ${SYSTEM_NAMES.join(',')}]
                                   [--protocol REVISION]
  --duration S     seconds measured per point (default ${CURVE_DEFAULTS.duration})
  --warmup S       seconds of load per system before its first point (default ${CURVE_DEFAULTS.warmup})
  --points         connections of the concurrency curve, ten-row query (default ${CURVE_DEFAULTS.points.join(',')})
  --rows           result sizes, multiples of ${ORDERS_PER_CUSTOMER} up to ${MAX_QUERY_ROWS} (default ${CURVE_DEFAULTS.rows.join(',')})
  --connections N  connections of the result-size curve (default ${CURVE_DEFAULTS.connections})
  --systems        default ${CURVE_DEFAULTS.systems.join(',')}
Each can also be set in the environment: BENCH_CURVES_DURATION, BENCH_CURVES_WARMUP, BENCH_CURVES_POINTS,
BENCH_CURVES_ROWS, BENCH_CURVES_CONNECTIONS, BENCH_CURVES_SYSTEMS, and BENCH_POOL_SIZE, BENCH_PROTOCOL as for run.ts.`;

const COMMON_OPTIONS = {
  duration: { type: 'string' },
  warmup: { type: 'string' },
  connections: { type: 'string' },
  pool: { type: 'string' },
  systems: { type: 'string' },
  protocol: { type: 'string' },
  help: { type: 'boolean' },
} as const;

/**
 * Flags win over environment variables. Both exist because `npm run bench` runs this through two
 * nested npm scripts, which do not pass flags along, while environment variables always arrive.
 */
export function readSettings(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON_OPTIONS,
      'cpu-prof': { type: 'boolean' },
      runs: { type: 'string' },
      protocols: { type: 'string' },
    },
  });
  if (values.help) exitWithUsage(USAGE);
  if (values.protocol !== undefined && values.protocols !== undefined) {
    throw new Error(`give --protocol or --protocols, not both\n${USAGE}`);
  }
  const protocols = protocolList(
    values.protocols ?? values.protocol ?? env.BENCH_PROTOCOLS ?? env.BENCH_PROTOCOL ?? DEFAULTS.protocol,
    USAGE,
  );
  return {
    durationSeconds: atLeastOne('duration', values.duration ?? env.BENCH_DURATION, DEFAULTS.duration, USAGE),
    warmupSeconds: count('warmup', values.warmup ?? env.BENCH_WARMUP, DEFAULTS.warmup, USAGE),
    connections: connections(values.connections ?? env.BENCH_CONNECTIONS, DEFAULTS.connections, USAGE),
    poolSize: poolSize(values.pool ?? env.BENCH_POOL_SIZE, USAGE),
    systems: systemList(values.systems ?? env.BENCH_SYSTEMS, SYSTEM_NAMES),
    cpuProfile: values['cpu-prof'] ?? ['1', 'true'].includes(env.BENCH_CPU_PROF ?? ''),
    runs: atLeastOne('runs', values.runs ?? env.BENCH_RUNS, DEFAULTS.runs, USAGE),
    protocol: protocols[0] ?? DEFAULTS.protocol,
    protocols,
  };
}

export function readCurveSettings(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): CurveSettings {
  const { values } = parseArgs({
    args: argv,
    options: { ...COMMON_OPTIONS, points: { type: 'string' }, rows: { type: 'string' } },
  });
  if (values.help) exitWithUsage(CURVE_USAGE);
  const rows = intList('rows', values.rows ?? env.BENCH_CURVES_ROWS, CURVE_DEFAULTS.rows);
  const unfit = rows.filter((size) => size % ORDERS_PER_CUSTOMER !== 0 || size > MAX_QUERY_ROWS);
  if (unfit.length > 0) {
    throw new Error(
      `--rows must be multiples of ${ORDERS_PER_CUSTOMER} up to ${MAX_QUERY_ROWS}, got ${unfit}\n${CURVE_USAGE}`,
    );
  }
  return {
    durationSeconds: atLeastOne(
      'duration',
      values.duration ?? env.BENCH_CURVES_DURATION,
      CURVE_DEFAULTS.duration,
      CURVE_USAGE,
    ),
    warmupSeconds: count('warmup', values.warmup ?? env.BENCH_CURVES_WARMUP, CURVE_DEFAULTS.warmup, CURVE_USAGE),
    points: intList('points', values.points ?? env.BENCH_CURVES_POINTS, CURVE_DEFAULTS.points).map((point) =>
      bounded('points', point, MAX_CONNECTIONS),
    ),
    rows,
    connections: connections(
      values.connections ?? env.BENCH_CURVES_CONNECTIONS,
      CURVE_DEFAULTS.connections,
      CURVE_USAGE,
    ),
    poolSize: poolSize(values.pool ?? env.BENCH_POOL_SIZE, CURVE_USAGE),
    systems: systemList(values.systems ?? env.BENCH_CURVES_SYSTEMS, CURVE_DEFAULTS.systems),
    protocol: oneProtocol(values.protocol ?? env.BENCH_PROTOCOL ?? DEFAULTS.protocol),
  };
}

function exitWithUsage(usage: string): never {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

function connections(raw: string | undefined, fallback: number, usage: string): number {
  return bounded('connections', atLeastOne('connections', raw, fallback, usage), MAX_CONNECTIONS);
}

function poolSize(raw: string | undefined, usage: string): number {
  return bounded('pool', atLeastOne('pool', raw, DEFAULTS.pool, usage), MAX_POOL);
}

function bounded(name: string, value: number, max: number): number {
  if (value > max) throw new Error(`--${name} must be at most ${max}, got ${value}`);
  return value;
}

/** Distinct positive whole numbers, in ascending order (the order a curve is drawn in). */
function intList(name: string, raw: string | undefined, fallback: readonly number[]): number[] {
  if (!raw?.trim()) return [...fallback];
  const values = raw.split(',').map((item) => atLeastOne(name, item, 0, CURVE_USAGE));
  return [...new Set(values)].sort((a, b) => a - b);
}

function protocolList(raw: string, usage: string): string[] {
  const protocols = [...new Set(raw.split(',').map((item) => item.trim()))].filter((item) => item !== '');
  const malformed = protocols.filter((protocol) => !/^\d{4}-\d{2}-\d{2}$/.test(protocol));
  if (protocols.length === 0 || malformed.length > 0) {
    throw new Error(`a protocol revision is a date such as 2026-07-28, got "${raw}"\n${usage}`);
  }
  return protocols;
}

function oneProtocol(raw: string): string {
  const [protocol, ...more] = protocolList(raw, CURVE_USAGE);
  if (protocol === undefined || more.length > 0) throw new Error(`--protocol takes one revision, got "${raw}"`);
  return protocol;
}

function systemList(raw: string | undefined, fallback: readonly SystemName[]): SystemName[] {
  if (!raw?.trim()) return [...fallback];
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SYSTEM_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`unknown system(s) ${unknown.join(', ')}; choose from ${SYSTEM_NAMES}`);
  return names as SystemName[];
}
