import { parseArgs } from 'node:util';
import { positiveInt as atLeastOne, nonNegativeInt as count } from '../shared/cli.ts';

/** The three Flotilla servers, and `floor`: bare node:http, what Node.js itself holds (see floor-server.ts). */
export const SERVER_NAMES = ['database', 'files', 'notifications', 'floor'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

export interface Settings {
  /** Starts timed per server; the memory figures come from the last of them. */
  readonly starts: number;
  /** `tools/call` requests made to the last start before RSS is read again. */
  readonly calls: number;
  /** Requests in flight at once during those calls (keep-alive connections). */
  readonly concurrency: number;
  /** Seconds without traffic between ready and the idle reading, and between the calls and the second reading. */
  readonly settleSeconds: { readonly afterReady: number; readonly afterCalls: number };
  /** Which servers, in this order. */
  readonly servers: readonly ServerName[];
  /** The MCP revision on the wire. */
  readonly protocol: string;
}

// settle: longer than the servers' idle memory release takes to come (MEMORY_RELEASE_IDLE_MS, 10 s, checked
// every 5 s: 10–15 s after the last call), so the second reading is of the server at rest.
const DEFAULTS = { starts: 5, calls: 10_000, concurrency: 8, idle: 3, settle: 17 };

const USAGE = `Usage: node footprint/run.ts [--starts N] [--calls N] [--concurrency N] [--idle S] [--settle S]
                             [--servers ${SERVER_NAMES.join(',')}] [--protocol REVISION]
  --starts N       starts timed per server, spawn to the first 200 from /readyz (default ${DEFAULTS.starts})
  --calls N        tools/call requests before RSS is read again (default ${DEFAULTS.calls})
  --concurrency N  requests in flight during them (default ${DEFAULTS.concurrency})
  --idle S         seconds without traffic between ready and the idle RSS reading (default ${DEFAULTS.idle})
  --settle S       seconds without traffic between the last call and the second reading (default ${DEFAULTS.settle})
Each can also be set in the environment: BENCH_STARTS, BENCH_CALLS, BENCH_CONCURRENCY, BENCH_IDLE,
BENCH_SETTLE, BENCH_SERVERS, BENCH_PROTOCOL.`;

/** Flags win over environment variables (which are what arrives through nested npm scripts). */
export function readSettings(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      starts: { type: 'string' },
      calls: { type: 'string' },
      concurrency: { type: 'string' },
      idle: { type: 'string' },
      settle: { type: 'string' },
      servers: { type: 'string' },
      protocol: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  return {
    starts: atLeastOne('starts', values.starts ?? env.BENCH_STARTS, DEFAULTS.starts, USAGE),
    calls: count('calls', values.calls ?? env.BENCH_CALLS, DEFAULTS.calls, USAGE),
    concurrency: atLeastOne('concurrency', values.concurrency ?? env.BENCH_CONCURRENCY, DEFAULTS.concurrency, USAGE),
    settleSeconds: {
      afterReady: count('idle', values.idle ?? env.BENCH_IDLE, DEFAULTS.idle, USAGE),
      afterCalls: count('settle', values.settle ?? env.BENCH_SETTLE, DEFAULTS.settle, USAGE),
    },
    servers: serverList(values.servers ?? env.BENCH_SERVERS),
    protocol: values.protocol ?? env.BENCH_PROTOCOL ?? '2026-07-28',
  };
}

function serverList(raw: string | undefined): ServerName[] {
  if (!raw?.trim()) return [...SERVER_NAMES];
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SERVER_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`unknown server(s) ${unknown.join(', ')}; choose from ${SERVER_NAMES}`);
  return names as ServerName[];
}
