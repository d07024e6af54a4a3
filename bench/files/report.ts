import { type Machine, machineSection } from '../shared/machine.ts';
import { markdownTable, textTable, writeResults as writeResultFiles } from '../shared/results.ts';
import type { Segment } from './measure.ts';
import type { CheckedTool } from './session.ts';
import type { FilesSettings } from './settings.ts';
import type { Operation, SystemName } from './systems/system.ts';

export interface SystemInfo {
  readonly name: SystemName;
  readonly description: string;
  readonly serverVersion: string;
  readonly protocolVersion: string;
  /** The tools measured, with the size of one answer (for MCP, the result as JSON: content and structuredContent) as the client received it. */
  readonly tools: readonly CheckedTool[];
}

/** One tool at one concurrency on one system: every round, and their median. */
export interface Measurement {
  readonly operation: Operation;
  readonly concurrency: number;
  readonly system: SystemName;
  readonly tool: string;
  readonly rounds: readonly Segment[];
  readonly median: Segment;
}

/** One of Flotilla's systems divided by another system, from the medians: calls/s above 1 and the others below 1 favour `system`. */
export interface Ratio {
  readonly operation: Operation;
  readonly concurrency: number;
  readonly system: SystemName;
  readonly against: SystemName;
  /** The other system's tool `system` is compared with. */
  readonly againstTool: string;
  readonly callsPerSecond: number;
  readonly p50Latency: number;
  readonly serverCpuPerCall: number | undefined;
}

export interface FilesReport {
  readonly benchmark: 'files';
  readonly startedAt: string;
  readonly settings: FilesSettings;
  readonly machine: Machine & { readonly referenceServer: string; readonly mcpClient: string };
  /**
   * os.loadavg() (1, 5 and 15 minutes) when the run started and when it ended. The start says how
   * busy the machine already was; the end includes this run's own client and servers, which keep
   * about two cores busy by themselves.
   */
  readonly loadAverage: { readonly atStart: readonly number[]; readonly atEnd: readonly number[] };
  readonly dataset: {
    readonly document: string;
    readonly documentBytes: number;
    readonly directory: string;
    readonly directoryEntries: number;
  };
  readonly systems: readonly SystemInfo[];
  readonly measurements: readonly Measurement[];
  readonly ratios: readonly Ratio[];
}

/**
 * What each of Flotilla's systems is put beside: the reference server (over stdio, since it has no
 * HTTP mode), Flotilla's own stdio figure for the HTTP system, and the floor.
 */
const RATIO_PAIRS: readonly (readonly [SystemName, SystemName])[] = [
  ['flotilla', 'reference'],
  ['flotilla-http', 'reference'],
  ['flotilla-http', 'flotilla'],
  ['flotilla', 'floor'],
  ['flotilla-http', 'floor'],
];

export function ratiosOf(measurements: readonly Measurement[]): Ratio[] {
  const ratios: Ratio[] = [];
  const round = (value: number) => Math.round(value * 1000) / 1000;
  for (const [system, against] of RATIO_PAIRS) {
    for (const mine of measurements.filter((m) => m.system === system)) {
      const others = measurements.filter(
        (m) => m.system === against && m.operation === mine.operation && m.concurrency === mine.concurrency,
      );
      for (const other of others) {
        const a = mine.median;
        const b = other.median;
        ratios.push({
          operation: mine.operation,
          concurrency: mine.concurrency,
          system,
          against,
          againstTool: other.tool,
          callsPerSecond: round(a.callsPerSecond / b.callsPerSecond),
          p50Latency: round(a.latencyMs.p50 / b.latencyMs.p50),
          serverCpuPerCall:
            a.serverCpuMsPerCall !== undefined && b.serverCpuMsPerCall
              ? round(a.serverCpuMsPerCall / b.serverCpuMsPerCall)
              : undefined,
        });
      }
    }
  }
  return ratios;
}

/** The systems as a list for the top of a page: what each is, its version and the protocol it spoke. */
export function systemsList(systems: readonly SystemInfo[]): string {
  return systems
    .map((system) => {
      const protocol = system.name === 'floor' ? system.protocolVersion : `MCP ${system.protocolVersion}`;
      return `- **${system.name}**: ${system.description}; server \`${system.serverVersion}\`, ${protocol}`;
    })
    .join('\n');
}

/** What the columns mean, for both pages (run.ts and curves.ts). */
export const FIGURES_TEXT = `Latency is per call, taken around \`client.callTool()\` (for the floor, around \`fetch()\` and parsing
the body); server CPU is user + system time of the server process (for flotilla-http not counting Redis)
during the measured calls divided by their number, client CPU the same for the benchmark process (the MCP
client parses each answer and checks it against the tool's output schema). Result bytes are one answer as
received: for MCP the tool result as JSON.`;

/** How each system is reached, for the top of the page. */
export function transportsText(mcpClient: string, negotiation: string): string {
  return `Each MCP system is driven by its own \`@modelcontextprotocol/client\` ${mcpClient} \`Client\` (${negotiation === 'auto' ? 'version negotiation `auto`' : 'the plain `initialize` handshake, its default'}):
\`StdioClientTransport\` for flotilla and reference, \`StreamableHTTPClientTransport\` with the \`Authorization\` header for
flotilla-http (the reference server has no HTTP mode: compare flotilla-http with both stdio figures). The floor is driven
by \`fetch\` (undici, keep-alive), which reads and parses each JSON answer.`;
}

const HEADINGS = [
  'operation',
  'in flight',
  'system',
  'tool',
  'calls/s',
  'p50 ms',
  'p99 ms',
  'failed',
  'server CPU ms/call',
  'client CPU ms/call',
  'result bytes',
];

function cells(report: FilesReport, measurement: Measurement): string[] {
  const { median } = measurement;
  const bytes = report.systems
    .find((system) => system.name === measurement.system)
    ?.tools.find((tool) => tool.tool === measurement.tool)?.resultBytes;
  return [
    measurement.operation,
    String(measurement.concurrency),
    measurement.system,
    measurement.tool,
    String(median.callsPerSecond),
    median.latencyMs.p50.toFixed(3),
    median.latencyMs.p99.toFixed(3),
    String(median.failures),
    median.serverCpuMsPerCall === undefined ? 'n/a' : median.serverCpuMsPerCall.toFixed(3),
    median.clientCpuMsPerCall.toFixed(3),
    bytes === undefined ? 'n/a' : String(bytes),
  ];
}

const RATIO_HEADINGS = [
  'operation',
  'in flight',
  'system',
  'against',
  'calls/s ×',
  'p50 latency ×',
  'server CPU/call ×',
];

function ratioCells(ratio: Ratio): string[] {
  return [
    ratio.operation,
    String(ratio.concurrency),
    ratio.system,
    `${ratio.against} ${ratio.againstTool}`,
    `${ratio.callsPerSecond.toFixed(2)}×`,
    `${ratio.p50Latency.toFixed(2)}×`,
    ratio.serverCpuPerCall === undefined ? 'n/a' : `${ratio.serverCpuPerCall.toFixed(2)}×`,
  ];
}

/** The side-by-side tables for the terminal. */
export function formatTable(report: FilesReport): string {
  return [
    textTable(
      HEADINGS,
      report.measurements.map((measurement) => cells(report, measurement)),
    ),
    '',
    'Flotilla ÷ the others (calls/s: above 1× Flotilla is faster; latency and CPU: below 1× it is):',
    textTable(RATIO_HEADINGS, report.ratios.map(ratioCells)),
  ].join('\n');
}

export function formatMarkdown(report: FilesReport): string {
  const { settings, machine, dataset } = report;
  return `# Files benchmark, ${report.startedAt}

${systemsList(report.systems)}

${transportsText(machine.mcpClient, settings.negotiation)} Figures are medians over ${settings.rounds} rounds.

${markdownTable(
  HEADINGS,
  report.measurements.map((measurement) => cells(report, measurement)),
  4,
)}

**Flotilla ÷ the others** (calls/s: above 1× Flotilla is faster; latency and CPU: below 1× it is):

${markdownTable(RATIO_HEADINGS, report.ratios.map(ratioCells), 4)}

${FIGURES_TEXT} See [bench/README.md](../README.md) for what is measured and how to read it.

## Settings

| | |
| --- | --- |
| rounds | ${settings.rounds}, alternating which system goes first; each figure is the median |
| read_file calls per round and system | ${settings.readCalls} sequential${settings.concurrency > 1 ? `, then ${settings.readCalls} with ${settings.concurrency} in flight` : ''} |
| list_directory calls per round and tool | ${settings.listCalls} sequential${settings.concurrency > 1 ? `, then ${settings.listCalls} with ${settings.concurrency} in flight` : ''} |
| warm-up per tool | ${settings.warmupCalls} read calls and ${Math.ceil(settings.warmupCalls / 4)} calls of each listing tool, before the first round |
| systems | ${settings.systems.join(', ')} |
| CPU profiles | ${settings.cpuProfile ? 'on (figures are slower than without)' : 'off'} |

${machineSection(machine, [
  [
    'load average (1, 5, 15 min)',
    `${report.loadAverage.atStart.join(', ')} at the start; ${report.loadAverage.atEnd.join(', ')} at the end, this run included`,
  ],
  ['reference server', machine.referenceServer],
  ['MCP client', machine.mcpClient],
])}

## Dataset

One directory in a temporary directory, served by all: \`${dataset.document}\`, ${dataset.documentBytes} bytes of ASCII
text, and \`${dataset.directory}/\`, ${dataset.directoryEntries} small files. Every answer is checked once before
any timing: the whole text, byte for byte, and all ${dataset.directoryEntries} names in one page.
`;
}

/** Writes files-<timestamp>.json and files-latest.md to `dir`; returns their paths. */
export function writeResults(report: FilesReport, dir: string): Promise<string[]> {
  return writeResultFiles(dir, 'files', report.startedAt, report, formatMarkdown(report));
}
