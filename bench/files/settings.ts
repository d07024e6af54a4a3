import { parseArgs } from 'node:util';
import { nonNegativeInt, positiveInt } from '../shared/cli.ts';
import { type Negotiation, type Operation, SYSTEM_NAMES, type SystemName } from './systems/system.ts';

export interface FilesSettings {
  /** Rounds of every measurement; each figure reported is the median over them. */
  readonly rounds: number;
  /** read_file calls per system in each measured segment. */
  readonly readCalls: number;
  /** list_directory calls per system in each measured segment. */
  readonly listCalls: number;
  /** Calls kept in flight in the concurrent segments; 1 runs the sequential segments only. */
  readonly concurrency: number;
  /** read_file calls per system before the first round (and a quarter as many list_directory calls), not counted. */
  readonly warmupCalls: number;
  /** Which systems, in this order. */
  readonly systems: readonly SystemName[];
  /** How the MCP clients connect (see Negotiation). */
  readonly negotiation: Negotiation;
  /** Whether the servers write a V8 CPU profile to results/profiles/. */
  readonly cpuProfile: boolean;
}

export interface CurvesSettings {
  readonly rounds: number;
  /** read_file calls per system at each 4 KiB point; larger documents get fewer (see callsAtSize). */
  readonly calls: number;
  /** The in-flight counts of the concurrency curve (4 KiB). */
  readonly points: readonly number[];
  /** The document sizes of the size curve, in bytes (each at in flight 1 and 8). */
  readonly sizes: readonly number[];
  readonly warmupCalls: number;
  readonly systems: readonly SystemName[];
  readonly negotiation: Negotiation;
  readonly cpuProfile: boolean;
}

export interface ProfileSettings {
  /** What is profiled: read_file of the 4 KiB document, or list_directory of the 1,000 entries. */
  readonly operation: Operation;
  /** Calls per system inside the profiled window. */
  readonly calls: number;
  readonly concurrency: number;
  /** The profiler's sampling interval, µs. */
  readonly intervalUs: number;
  readonly warmupCalls: number;
  readonly systems: readonly SystemName[];
  readonly negotiation: Negotiation;
}

const DEFAULTS = { rounds: 3, readCalls: 2000, listCalls: 500, concurrency: 8, warmup: 200 };
const CURVES_DEFAULTS = {
  rounds: 2,
  calls: 1000,
  points: [1, 8, 32, 128],
  sizes: [4096, 262_144, 4_194_304],
  warmup: 200,
  systems: ['flotilla', 'reference', 'flotilla-http'] as SystemName[],
};
/** The in-flight counts of the size curve. */
export const SIZE_CURVE_IN_FLIGHT = [1, 8] as const;

const PROFILE_DEFAULTS = {
  calls: 4000,
  concurrency: 1,
  intervalUs: 200,
  warmup: 500,
  systems: ['flotilla', 'reference'] as SystemName[],
};

/** The fewest calls a point gets, however large its document (the p99 of so few is close to their slowest). */
export const MIN_CALLS = 20;

/**
 * Calls at a document of `bytes`: `calls` up to 64 KiB, then fewer in proportion, so a 4 MiB point
 * takes about as long as a small one instead of 64 times longer.
 */
export function callsAtSize(calls: number, bytes: number): number {
  return Math.max(Math.min(calls, MIN_CALLS), Math.round(calls * Math.min(1, 65_536 / bytes)));
}

const COMMON_USAGE = `  --systems a,b     which systems, in this order: ${SYSTEM_NAMES.join(', ')} (BENCH_FILES_SYSTEMS)
  --negotiation M   legacy (the client's default: the 2025 initialize handshake) or auto (2026-07-28 where
                    the server offers it) for every MCP client (BENCH_FILES_NEGOTIATION; default legacy)
  --cpu-prof        V8 CPU profiles of every server to results/profiles/ (BENCH_CPU_PROF=1); slows them down`;

const USAGE = `Usage: node files/run.ts [--rounds N] [--read-calls N] [--list-calls N] [--concurrency N] [--warmup N]
                         [--systems a,b] [--negotiation legacy|auto] [--cpu-prof]
Each can also be set in the environment: BENCH_FILES_ROUNDS, BENCH_FILES_READ_CALLS, BENCH_FILES_LIST_CALLS,
BENCH_FILES_CONCURRENCY, BENCH_FILES_WARMUP, and as below.
${COMMON_USAGE}
Default systems: ${SYSTEM_NAMES.join(',')}.`;

const CURVES_USAGE = `Usage: node files/curves.ts [--rounds N] [--calls N] [--points 1,8,32,128] [--sizes 4096,262144,4194304]
                            [--warmup N] [--systems a,b] [--negotiation legacy|auto] [--cpu-prof]
read_file throughput and p99 against calls in flight (4 KiB) and against file size (in flight ${SIZE_CURVE_IN_FLIGHT.join(' and ')}).
  --rounds N        rounds, alternating the systems' order; figures are medians (BENCH_FILES_CURVES_ROUNDS; ${CURVES_DEFAULTS.rounds})
  --calls N         calls per system and point at 4 KiB; a document of B bytes gets N × 64 KiB / B of them,
                    at least ${MIN_CALLS} (BENCH_FILES_CURVES_CALLS; ${CURVES_DEFAULTS.calls})
  --points a,b      in-flight counts of the concurrency curve (BENCH_FILES_CURVES_POINTS; ${CURVES_DEFAULTS.points.join(',')})
  --sizes a,b       document sizes in bytes of the size curve (BENCH_FILES_CURVES_SIZES; ${CURVES_DEFAULTS.sizes.join(',')})
  --warmup N        uncounted 4 KiB calls per system first, fewer for larger documents (BENCH_FILES_WARMUP; ${CURVES_DEFAULTS.warmup})
${COMMON_USAGE}
Default systems: ${CURVES_DEFAULTS.systems.join(',')}.`;

const PROFILE_USAGE = `Usage: node files/profile.ts [--operation read_file|list_directory] [--calls N] [--concurrency N]
                             [--interval US] [--warmup N] [--systems a,b] [--negotiation legacy|auto]
A V8 CPU profile of each server over N calls (read_file of the 4 KiB document, or list_directory of the
1,000 entries), summarised from the samples inside the measured calls only: µs per call by cost group and
the top functions by self time.
  --operation OP    read_file or list_directory (read_file; the reference answers with its list_directory)
  --calls N         profiled calls per system (${PROFILE_DEFAULTS.calls})
  --concurrency N   calls in flight (${PROFILE_DEFAULTS.concurrency})
  --interval US     sampling interval in µs (${PROFILE_DEFAULTS.intervalUs}; V8's default is 1000)
  --warmup N        uncounted calls first (${PROFILE_DEFAULTS.warmup})
  --systems a,b     which systems (${PROFILE_DEFAULTS.systems.join(',')})
  --negotiation M   legacy or auto, as for run.ts (legacy)`;

function systemsOf(raw: string | undefined, fallback: readonly SystemName[], usage: string): SystemName[] {
  if (raw === undefined || raw.trim() === '') return [...fallback];
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SYSTEM_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0)
    throw new Error(`--systems: unknown ${unknown.join(', ')}; choose from ${SYSTEM_NAMES.join(', ')}\n${usage}`);
  return [...new Set(names as SystemName[])];
}

function negotiationOf(raw: string | undefined, usage: string): Negotiation {
  if (raw === undefined || raw === '' || raw === 'legacy') return 'legacy';
  if (raw === 'auto') return 'auto';
  throw new Error(`--negotiation must be legacy or auto, got "${raw}"\n${usage}`);
}

function countsOf(name: string, raw: string | undefined, fallback: readonly number[], usage: string): number[] {
  if (raw === undefined || raw.trim() === '') return [...fallback];
  const values = raw.split(',').map((item) => positiveInt(name, item, 1, usage));
  return [...new Set(values)].sort((a, b) => a - b);
}

const COMMON_OPTIONS = {
  warmup: { type: 'string' },
  rounds: { type: 'string' },
  systems: { type: 'string' },
  negotiation: { type: 'string' },
  'cpu-prof': { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

function helped(help: boolean | undefined, usage: string): void {
  if (!help) return;
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const cpuProfileOf = (flag: boolean | undefined, env: NodeJS.ProcessEnv) =>
  flag ?? ['1', 'true'].includes(env.BENCH_CPU_PROF ?? '');

/**
 * Flags win over environment variables, as in the database benchmark: `npm run bench` runs this
 * through nested npm scripts, which pass the environment along but not flags. The variables carry a
 * FILES_ prefix because the database benchmark's BENCH_WARMUP counts seconds, not calls.
 */
export function readSettings(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): FilesSettings {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON_OPTIONS,
      'read-calls': { type: 'string' },
      'list-calls': { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  helped(values.help, USAGE);
  const count = (name: string, raw: string | undefined, fallback: number) => positiveInt(name, raw, fallback, USAGE);
  return {
    rounds: count('rounds', values.rounds ?? env.BENCH_FILES_ROUNDS, DEFAULTS.rounds),
    readCalls: count('read-calls', values['read-calls'] ?? env.BENCH_FILES_READ_CALLS, DEFAULTS.readCalls),
    listCalls: count('list-calls', values['list-calls'] ?? env.BENCH_FILES_LIST_CALLS, DEFAULTS.listCalls),
    concurrency: count('concurrency', values.concurrency ?? env.BENCH_FILES_CONCURRENCY, DEFAULTS.concurrency),
    warmupCalls: nonNegativeInt('warmup', values.warmup ?? env.BENCH_FILES_WARMUP, DEFAULTS.warmup, USAGE),
    systems: systemsOf(values.systems ?? env.BENCH_FILES_SYSTEMS, SYSTEM_NAMES, USAGE),
    negotiation: negotiationOf(values.negotiation ?? env.BENCH_FILES_NEGOTIATION, USAGE),
    cpuProfile: cpuProfileOf(values['cpu-prof'], env),
  };
}

export function readCurvesSettings(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): CurvesSettings {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON_OPTIONS,
      calls: { type: 'string' },
      points: { type: 'string' },
      sizes: { type: 'string' },
    },
  });
  helped(values.help, CURVES_USAGE);
  return {
    rounds: positiveInt('rounds', values.rounds ?? env.BENCH_FILES_CURVES_ROUNDS, CURVES_DEFAULTS.rounds, CURVES_USAGE),
    calls: positiveInt('calls', values.calls ?? env.BENCH_FILES_CURVES_CALLS, CURVES_DEFAULTS.calls, CURVES_USAGE),
    points: countsOf('points', values.points ?? env.BENCH_FILES_CURVES_POINTS, CURVES_DEFAULTS.points, CURVES_USAGE),
    sizes: countsOf('sizes', values.sizes ?? env.BENCH_FILES_CURVES_SIZES, CURVES_DEFAULTS.sizes, CURVES_USAGE),
    warmupCalls: nonNegativeInt(
      'warmup',
      values.warmup ?? env.BENCH_FILES_WARMUP,
      CURVES_DEFAULTS.warmup,
      CURVES_USAGE,
    ),
    systems: systemsOf(values.systems ?? env.BENCH_FILES_SYSTEMS, CURVES_DEFAULTS.systems, CURVES_USAGE),
    negotiation: negotiationOf(values.negotiation ?? env.BENCH_FILES_NEGOTIATION, CURVES_USAGE),
    cpuProfile: cpuProfileOf(values['cpu-prof'], env),
  };
}

export function readProfileSettings(argv: string[] = process.argv.slice(2)): ProfileSettings {
  const { values } = parseArgs({
    args: argv,
    options: {
      operation: { type: 'string' },
      calls: { type: 'string' },
      concurrency: { type: 'string' },
      interval: { type: 'string' },
      warmup: { type: 'string' },
      systems: { type: 'string' },
      negotiation: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  helped(values.help, PROFILE_USAGE);
  const count = (name: string, raw: string | undefined, fallback: number) =>
    positiveInt(name, raw, fallback, PROFILE_USAGE);
  const operation = values.operation ?? 'read_file';
  if (operation !== 'read_file' && operation !== 'list_directory')
    throw new Error(`--operation: read_file or list_directory, not ${operation}\n${PROFILE_USAGE}`);
  return {
    operation,
    calls: count('calls', values.calls, PROFILE_DEFAULTS.calls),
    concurrency: count('concurrency', values.concurrency, PROFILE_DEFAULTS.concurrency),
    intervalUs: count('interval', values.interval, PROFILE_DEFAULTS.intervalUs),
    warmupCalls: nonNegativeInt('warmup', values.warmup, PROFILE_DEFAULTS.warmup, PROFILE_USAGE),
    systems: systemsOf(values.systems, PROFILE_DEFAULTS.systems, PROFILE_USAGE),
    negotiation: negotiationOf(values.negotiation, PROFILE_USAGE),
  };
}
