import { parseArgs } from 'node:util';
import { positiveInt as atLeastOne, nonNegativeInt as count } from '../shared/cli.ts';

export interface Settings {
  /** Seconds of load whose figures are kept. */
  readonly durationSeconds: number;
  /** Seconds of load before it, discarded: JIT, statement caches, pool connections. */
  readonly warmupSeconds: number;
  /** Concurrent HTTP connections the load generator keeps busy. */
  readonly connections: number;
  /** Postgres connections each system may open; the same for all three. */
  readonly poolSize: number;
  /** Which systems to run, in this order. */
  readonly systems: readonly SystemName[];
  /** Whether the Node.js servers (Flotilla, floor) write a V8 CPU profile to results/profiles/. */
  readonly cpuProfile: boolean;
  /** The MCP protocol revision on the wire: what the official client negotiates with both servers by default. */
  readonly protocol: string;
}

export const SYSTEM_NAMES = ['flotilla', 'flotilla-2', 'toolbox', 'floor'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

const DEFAULTS = { duration: 10, warmup: 3, connections: 32, pool: 10 };

const USAGE = `Usage: node database/run.ts [--duration S] [--warmup S] [--connections N] [--pool N]
                                [--systems ${SYSTEM_NAMES.join(',')}] [--cpu-prof] [--protocol REVISION]
Each can also be set in the environment: BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_POOL_SIZE,
BENCH_SYSTEMS, BENCH_CPU_PROF=1, BENCH_PROTOCOL.`;

/**
 * Flags win over environment variables. Both exist because `npm run bench` runs this through two
 * nested npm scripts, which do not pass flags along, while environment variables always arrive.
 */
export function readSettings(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      pool: { type: 'string' },
      systems: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      protocol: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  return {
    durationSeconds: positiveInt('duration', values.duration ?? env.BENCH_DURATION, DEFAULTS.duration),
    warmupSeconds: nonNegativeInt('warmup', values.warmup ?? env.BENCH_WARMUP, DEFAULTS.warmup),
    connections: positiveInt('connections', values.connections ?? env.BENCH_CONNECTIONS, DEFAULTS.connections),
    // The test kit's Postgres allows 200 connections; each system is stopped before the next starts.
    poolSize: bounded('pool', positiveInt('pool', values.pool ?? env.BENCH_POOL_SIZE, DEFAULTS.pool), 150),
    systems: systemList(values.systems ?? env.BENCH_SYSTEMS),
    cpuProfile: values['cpu-prof'] ?? ['1', 'true'].includes(env.BENCH_CPU_PROF ?? ''),
    protocol: values.protocol ?? env.BENCH_PROTOCOL ?? '2026-07-28',
  };
}

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  return atLeastOne(name, raw, fallback, USAGE);
}

function nonNegativeInt(name: string, raw: string | undefined, fallback: number): number {
  return count(name, raw, fallback, USAGE);
}

function bounded(name: string, value: number, max: number): number {
  if (value > max) throw new Error(`--${name} must be at most ${max}, got ${value}`);
  return value;
}

function systemList(raw: string | undefined): SystemName[] {
  if (!raw?.trim()) return [...SYSTEM_NAMES];
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SYSTEM_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`unknown system(s) ${unknown.join(', ')}; choose from ${SYSTEM_NAMES}`);
  return names as SystemName[];
}
