import type { Panel } from '../shared/chart.ts';
import { type Machine, machineSection } from '../shared/machine.ts';
import { markdownTable, textTable } from '../shared/results.ts';
import type { Settings } from './settings.ts';
import type { FloorStep, FlotillaStep } from './steps.ts';

/** The issue's targets: reported beside the figures, never a reason to fail. */
const TARGETS = { acceptsPerSecond: 1000, deliveriesPerSecond: 500, flotillaToFloor: 0.5 };

export interface Target {
  readonly what: string;
  readonly target: number;
  readonly measured: number | undefined;
  readonly met: boolean;
}

export interface Summary {
  /** The concurrency of the headline figures. */
  readonly connections: number;
  readonly flotillaAcceptsPerSecond: number | undefined;
  readonly flotillaDeliveriesPerSecond: number | undefined;
  readonly floorAcceptsPerSecond: number | undefined;
  /** Flotilla's accepts/s over the floor's, at the same concurrency. */
  readonly flotillaToFloor: number | undefined;
  readonly targets: readonly Target[];
  /** What the targets cost in CPU, from the figures measured at the headline concurrency. */
  readonly cpuBound: CpuBound | undefined;
  /** Everything that makes the figures describe a failure; the run exits 1 when any. */
  readonly problems: readonly string[];
}

/**
 * Whether this machine has the CPU for both targets at once: the accepts at the target rate take
 * server + Postgres + load generator CPU per accept (as measured under load), each delivery takes
 * server + Postgres CPU per delivery while draining (delivering alone) plus the receiver's.
 */
export interface CpuBound {
  readonly cores: number;
  readonly msPerAccept: number;
  readonly msPerDelivery: number;
  /** Cores that TARGETS.acceptsPerSecond accepts/s and TARGETS.deliveriesPerSecond deliveries/s need together. */
  readonly coresForTargets: number;
  /** Deliveries/s the cores left over by TARGETS.acceptsPerSecond accepts/s could make. */
  readonly deliveriesBesideTargetAccepts: number;
}

function cpuBoundOf(step: FlotillaStep | undefined, cores: number): CpuBound | undefined {
  if (!step) return undefined;
  const accept = step.cpuMsPerAccept;
  const drain = step.cpuMsPerDeliveryDraining;
  const receiver = step.cpuMsPerNotification.receiver;
  if (accept.server === undefined || accept.postgres === undefined) return undefined;
  if (drain.server === undefined || drain.postgres === undefined || receiver === undefined) return undefined;
  const msPerAccept = accept.server + accept.postgres + accept.loadGenerator;
  const msPerDelivery = drain.server + drain.postgres + receiver;
  const acceptCores = (TARGETS.acceptsPerSecond * msPerAccept) / 1000;
  return {
    cores,
    msPerAccept,
    msPerDelivery,
    coresForTargets: acceptCores + (TARGETS.deliveriesPerSecond * msPerDelivery) / 1000,
    deliveriesBesideTargetAccepts: Math.max(0, Math.floor(((cores - acceptCores) * 1000) / msPerDelivery)),
  };
}

export interface BenchReport {
  readonly benchmark: 'notifications';
  readonly startedAt: string;
  readonly settings: Settings;
  /** The server's environment and pools, as it ran. */
  readonly server: Readonly<Record<string, string>>;
  readonly postgresSettings: Readonly<Record<string, string>>;
  readonly machine: Machine & { readonly postgres: string; readonly pgBoss: string };
  /**
   * os.loadavg() (1, 5 and 15 minutes) when the run started and when it ended (the latter includes
   * this run's own load). On two cores, anything much above 2 at the start means other work competed.
   */
  readonly loadAverage: { readonly atStart: readonly number[]; readonly atEnd: readonly number[] };
  /** Size of one send_notification answer as the server sends it. */
  readonly answerBytes: number;
  readonly flotilla: readonly FlotillaStep[];
  readonly floor: readonly FloorStep[];
  /** The notifications table at the end of the run: every row should be delivered, once. */
  readonly finalStates: readonly { status: string; n: number; resent: number }[];
  readonly summary: Summary;
}

const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b ? Math.round((a / b) * 1000) / 1000 : undefined;

export function summarize(
  settings: Settings,
  flotilla: readonly FlotillaStep[],
  floor: readonly FloorStep[],
  cores: number,
): Summary {
  const main = flotilla.find((step) => step.concurrency === settings.connections);
  const floorMain = floor.find((step) => step.concurrency === settings.connections);
  const accepts = main?.load.requestsPerSecond;
  const deliveries = main?.deliveries.perSecondDuringLoad;
  const floorAccepts = floorMain?.acceptsPerSecond;
  const flotillaToFloor = ratio(accepts, floorAccepts);
  const target = (what: string, goal: number, measured: number | undefined): Target => ({
    what,
    target: goal,
    measured,
    met: measured !== undefined && measured >= goal,
  });
  const problems: string[] = [];
  for (const step of flotilla) {
    const at = `flotilla at ${step.concurrency} in flight`;
    const { load, deliveries: d } = step;
    if (load.non2xx + load.failedResults + load.socketErrors > 0) {
      problems.push(
        `${at}: ${load.non2xx} non-2xx, ${load.failedResults} failed results, ${load.socketErrors} socket errors`,
      );
    }
    if (step.repeatedIds > 0) problems.push(`${at}: ${step.repeatedIds} answers repeated an earlier id`);
    if (d.verificationFailures > 0) problems.push(`${at}: ${d.verificationFailures} deliveries failed verification`);
    if (d.missing > 0) problems.push(`${at}: ${d.missing} accepted notifications were never delivered`);
    if (!d.drained) problems.push(`${at}: notifications were still pending at the drain timeout`);
  }
  for (const step of floor) {
    if (step.figures.errors > 0) {
      problems.push(
        `floor at ${step.concurrency} in flight: ${step.figures.errors} errors (${step.figures.firstError})`,
      );
    }
  }
  return {
    connections: settings.connections,
    flotillaAcceptsPerSecond: accepts,
    flotillaDeliveriesPerSecond: deliveries,
    floorAcceptsPerSecond: floorAccepts,
    flotillaToFloor,
    targets: [
      target('durable accepts/s', TARGETS.acceptsPerSecond, accepts),
      target('verified deliveries/s', TARGETS.deliveriesPerSecond, deliveries),
      target('Flotilla / floor accepts', TARGETS.flotillaToFloor, flotillaToFloor),
    ],
    cpuBound: cpuBoundOf(main, cores),
    problems,
  };
}

const cpu = (ms: number | undefined) => (ms === undefined ? 'n/a' : ms.toFixed(3));
const fixed = (value: number | undefined, digits = 2) => (value === undefined ? 'n/a' : value.toFixed(digits));

const ACCEPT_HEADINGS = [
  'system',
  'accepts/s',
  'p50 ms',
  'p99 ms',
  'non-2xx',
  'failed',
  'socket errors',
  'server CPU ms/accept',
  'Postgres CPU ms/accept',
  'load gen CPU ms/accept',
];

function acceptRows(report: BenchReport): string[][] {
  const { connections } = report.settings;
  const rows: string[][] = [];
  const flotilla = report.flotilla.find((step) => step.concurrency === connections);
  const floor = report.floor.find((step) => step.concurrency === connections);
  if (flotilla) {
    const { load, cpuMsPerAccept: c } = flotilla;
    rows.push([
      'flotilla',
      String(load.requestsPerSecond),
      fixed(load.latencyMs.p50),
      fixed(load.latencyMs.p99),
      String(load.non2xx),
      String(load.failedResults),
      String(load.socketErrors),
      cpu(c.server),
      cpu(c.postgres),
      cpu(c.loadGenerator),
    ]);
  }
  if (floor) {
    const { figures, cpuMsPerAccept: c } = floor;
    rows.push([
      'floor',
      String(floor.acceptsPerSecond),
      fixed(figures.latencyMs.p50),
      fixed(figures.latencyMs.p99),
      '-',
      String(figures.errors),
      '-',
      cpu(c.server),
      cpu(c.postgres),
      cpu(c.loadGenerator),
    ]);
  }
  return rows;
}

const DELIVERY_HEADINGS = [
  'in flight',
  'accepted',
  'deliveries/s under load',
  'backlog at end',
  'deliveries/s draining',
  'accept→delivery p50 ms',
  'p99 ms',
  'missing',
  'duplicates',
  'failed verification',
  'answer cut off',
  'server CPU ms/notif.',
  'Postgres CPU ms/notif.',
  'receiver CPU ms/notif.',
  'PG xacts/notif.',
  'server CPU ms/delivery draining',
  'Postgres CPU ms/delivery draining',
];

function deliveryRows(report: BenchReport): string[][] {
  return report.flotilla.map((step) => {
    const { deliveries: d, cpuMsPerNotification: c, cpuMsPerDeliveryDraining: drain } = step;
    return [
      String(step.concurrency),
      String(d.accepted),
      String(d.perSecondDuringLoad),
      String(d.backlogAtEnd),
      d.perSecondDraining === undefined ? '-' : String(d.perSecondDraining),
      fixed(d.acceptToDeliveryMs.p50, 1),
      fixed(d.acceptToDeliveryMs.p99, 1),
      String(d.missing),
      String(d.duplicates),
      String(d.verificationFailures),
      String(d.deliveredWithoutAnswer),
      cpu(c.server),
      cpu(c.postgres),
      cpu(c.receiver),
      fixed(step.postgresTransactionsPerNotification, 1),
      cpu(drain.server),
      cpu(drain.postgres),
    ];
  });
}

const CURVE_HEADINGS = [
  'in flight',
  'flotilla accepts/s',
  'flotilla p50 ms',
  'flotilla p99 ms',
  'floor accepts/s',
  'floor p50 ms',
  'floor p99 ms',
  'flotilla / floor',
];

function curveRows(report: BenchReport): string[][] {
  const levels = [...new Set([...report.flotilla, ...report.floor].map((step) => step.concurrency))].sort(
    (a, b) => a - b,
  );
  return levels.map((level) => {
    const flotilla = report.flotilla.find((step) => step.concurrency === level);
    const floor = report.floor.find((step) => step.concurrency === level);
    return [
      String(level),
      flotilla ? String(flotilla.load.requestsPerSecond) : '-',
      fixed(flotilla?.load.latencyMs.p50),
      fixed(flotilla?.load.latencyMs.p99),
      floor ? String(floor.acceptsPerSecond) : '-',
      fixed(floor?.figures.latencyMs.p50),
      fixed(floor?.figures.latencyMs.p99),
      fixed(ratio(flotilla?.load.requestsPerSecond, floor?.acceptsPerSecond)),
    ];
  });
}

function summaryLines(report: BenchReport): string[] {
  const { summary } = report;
  return [
    `Flotilla / floor accepts at ${summary.connections} in flight: ${fixed(summary.flotillaToFloor)}×`,
    ...summary.targets.map(
      (target) =>
        `target ${target.what} ≥ ${target.target}: measured ${target.measured ?? 'n/a'} (${target.met ? 'met' : 'not met'})`,
    ),
    ...(summary.cpuBound ? [cpuBoundLine(summary.cpuBound)] : []),
    ...summary.problems.map((problem) => `PROBLEM: ${problem}`),
  ];
}

function cpuBoundLine(bound: CpuBound): string {
  return (
    `CPU bound: ${TARGETS.acceptsPerSecond} accepts/s at ${cpu(bound.msPerAccept)} ms each (server + Postgres + load ` +
    `generator) and ${TARGETS.deliveriesPerSecond} deliveries/s at ${cpu(bound.msPerDelivery)} ms each (server + ` +
    `Postgres while draining, + receiver) need ${fixed(bound.coresForTargets)} cores of this machine's ${bound.cores}; ` +
    `beside ${TARGETS.acceptsPerSecond} accepts/s its cores leave CPU for at most ${bound.deliveriesBesideTargetAccepts} deliveries/s`
  );
}

/** The tables for the terminal. */
export function formatText(report: BenchReport): string {
  return [
    `Accepts at ${report.settings.connections} in flight`,
    textTable(ACCEPT_HEADINGS, acceptRows(report)),
    '',
    'Flotilla deliveries, per point of the curve',
    textTable(DELIVERY_HEADINGS, deliveryRows(report)),
    '',
    'Scaling curve',
    textTable(CURVE_HEADINGS, curveRows(report)),
    '',
    ...summaryLines(report),
  ].join('\n');
}

export function formatMarkdown(report: BenchReport): string {
  const { settings, machine, server } = report;
  const states = report.finalStates.map((row) => `${row.status} ${row.n} (sent more than once: ${row.resent})`);
  return `# Notifications benchmark, ${report.startedAt}

- **flotilla**: the notifications server (\`services/notifications/dist/main.js\`, role \`all\`: it serves MCP and
  delivers), \`send_notification\` over MCP Streamable HTTP (${settings.protocol}), API key, rate limit in Redis,
  the least-privilege runtime role; each answer comes after the notification row and its pg-boss job committed.
  Deliveries go to a Standard Webhooks receiver in its own process that verifies every signature.
- **floor**: a bare Node.js loop in its own process: \`BEGIN\`, \`INSERT\` of the same row into a copy of the
  server's table, pg-boss \`send\` with the server's queue options, \`COMMIT\` (no HTTP, MCP, auth, idempotency
  lookup or delivery).

## Accepts at ${settings.connections} in flight

${markdownTable(ACCEPT_HEADINGS, acceptRows(report))}

## Flotilla deliveries

${markdownTable(DELIVERY_HEADINGS, deliveryRows(report))}

## Scaling curve

${markdownTable(CURVE_HEADINGS, curveRows(report))}

![curves](notifications-curves.svg)

${summaryLines(report)
  .map((line) => `**${line}**`)
  .join('  \n')}

Accept latency is per call at the load generator (autocannon, closed loop), over 2xx answers. "deliveries/s
under load" counts first verified deliveries that arrived during the measured window; "accept→delivery" runs
from the accept answer at the load generator to the delivery's arrival at the receiver (one clock). Server CPU
per accept includes the deliveries it made meanwhile; CPU per notification runs from the window's start to the
end of the drain (accepting and delivering each one). The floor's "server CPU" is the floor process.

Notifications at the end: ${states.join(', ')}.

## Settings

| | |
| --- | --- |
| measured | ${settings.durationSeconds} s at ${settings.connections} in flight after a ${settings.warmupSeconds} s warm-up; ${settings.curveDurationSeconds} s (after ${settings.curveWarmupSeconds} s) at the curve's other points |
| curve | ${report.flotilla.map((step) => step.concurrency).join(', ')} in flight |
| server | ${Object.entries(server)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ')} |
| floor pool | ${settings.floorPoolSize} |
| drain timeout | ${settings.drainTimeoutSeconds} s |
| server CPU profile | ${settings.cpuProfile ? 'on (figures are slower than without)' : 'off'} |
| Postgres | ${Object.entries(report.postgresSettings)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ')} |

${machineSection(machine, [
  ['PostgreSQL', machine.postgres],
  ['pg-boss', machine.pgBoss],
  [
    'load average (1, 5, 15 min)',
    `${report.loadAverage.atStart.join(', ')} at the start, ${report.loadAverage.atEnd.join(', ')} at the end`,
  ],
])}
`;
}

/** Accepts/s and p99 against concurrency, Flotilla beside the floor, for writeChart. */
export function curvePanels(report: BenchReport): Panel[] {
  return [
    {
      title: 'Throughput',
      xTitle: 'calls in flight',
      yTitle: 'per second',
      series: [
        {
          name: 'flotilla accepts',
          points: report.flotilla.map((step) => ({ x: step.concurrency, y: step.load.requestsPerSecond })),
        },
        {
          name: 'flotilla deliveries',
          points: report.flotilla.map((step) => ({ x: step.concurrency, y: step.deliveries.perSecondDuringLoad })),
        },
        {
          name: 'floor accepts',
          points: report.floor.map((step) => ({ x: step.concurrency, y: step.acceptsPerSecond })),
        },
      ],
    },
    {
      title: 'Accept latency, p99',
      xTitle: 'calls in flight',
      yTitle: 'p99 ms',
      yScale: 'log',
      series: [
        {
          name: 'flotilla accepts',
          points: report.flotilla.map((step) => ({ x: step.concurrency, y: step.load.latencyMs.p99 })),
        },
        {
          name: 'floor accepts',
          points: report.floor.map((step) => ({ x: step.concurrency, y: step.figures.latencyMs.p99 })),
        },
      ],
    },
  ];
}
