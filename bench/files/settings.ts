import { parseArgs } from 'node:util';
import { nonNegativeInt, positiveInt } from '../shared/cli.ts';

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
  /** Whether both servers write a V8 CPU profile to results/profiles/. */
  readonly cpuProfile: boolean;
}

const DEFAULTS = { rounds: 3, readCalls: 2000, listCalls: 500, concurrency: 8, warmup: 200 };

const USAGE = `Usage: node files/run.ts [--rounds N] [--read-calls N] [--list-calls N] [--concurrency N] [--warmup N] [--cpu-prof]
Each can also be set in the environment: BENCH_FILES_ROUNDS, BENCH_FILES_READ_CALLS, BENCH_FILES_LIST_CALLS,
BENCH_FILES_CONCURRENCY, BENCH_FILES_WARMUP, BENCH_CPU_PROF=1.`;

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
      rounds: { type: 'string' },
      'read-calls': { type: 'string' },
      'list-calls': { type: 'string' },
      concurrency: { type: 'string' },
      warmup: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const count = (name: string, raw: string | undefined, fallback: number) => positiveInt(name, raw, fallback, USAGE);
  return {
    rounds: count('rounds', values.rounds ?? env.BENCH_FILES_ROUNDS, DEFAULTS.rounds),
    readCalls: count('read-calls', values['read-calls'] ?? env.BENCH_FILES_READ_CALLS, DEFAULTS.readCalls),
    listCalls: count('list-calls', values['list-calls'] ?? env.BENCH_FILES_LIST_CALLS, DEFAULTS.listCalls),
    concurrency: count('concurrency', values.concurrency ?? env.BENCH_FILES_CONCURRENCY, DEFAULTS.concurrency),
    warmupCalls: nonNegativeInt('warmup', values.warmup ?? env.BENCH_FILES_WARMUP, DEFAULTS.warmup, USAGE),
    cpuProfile: values['cpu-prof'] ?? ['1', 'true'].includes(env.BENCH_CPU_PROF ?? ''),
  };
}
