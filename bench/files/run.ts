/**
 * `npm run files -w @flotilla/bench`: read_file of a 4 KiB file and list_directory of 1,000 entries,
 * served by Flotilla's files server over stdio and over Streamable HTTP (with API-key auth and a
 * Redis rate limit), by the official `@modelcontextprotocol/server-filesystem` over stdio, all
 * through the same official MCP client, and by a bare node:http floor, in one run. Prints a
 * side-by-side table and writes results/files-<time>.json and results/files-latest.md.
 * Settings: see settings.ts or `node files/run.ts --help`.
 */
import { exitOnSignals, log } from '../shared/cli.ts';
import { describeMachine } from '../shared/machine.ts';
import { createDataset, DIRECTORY_ENTRIES, DIRECTORY_NAME, DOCUMENT_BYTES, DOCUMENT_NAME } from './dataset.ts';
import { type FilesReport, formatTable, type Measurement, ratiosOf, type SystemInfo, writeResults } from './report.ts';
import {
  checkAnswers,
  clientVersion,
  flagFailures,
  loadAverage,
  measureRounds,
  type Point,
  RESULTS_DIR,
  requireBuild,
  warmUpAll,
  withSystems,
} from './session.ts';
import { readSettings } from './settings.ts';

async function main(): Promise<void> {
  const settings = readSettings();
  requireBuild();
  exitOnSignals();
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  const profileDir = `${RESULTS_DIR}profiles/files-${startedAt.replace(/[:.]/g, '-')}`;
  log(
    `building the dataset: ${DOCUMENT_NAME} (${DOCUMENT_BYTES} bytes) and ${DIRECTORY_NAME}/ (${DIRECTORY_ENTRIES} files)`,
  );
  const dataset = await createDataset();
  const concurrencies = settings.concurrency > 1 ? [1, settings.concurrency] : [1];
  const points: Point[] = [
    ...concurrencies.map((concurrency) => ({
      operation: 'read_file' as const,
      document: dataset.document,
      concurrency,
      calls: settings.readCalls,
    })),
    ...concurrencies.map((concurrency) => ({
      operation: 'list_directory' as const,
      concurrency,
      calls: settings.listCalls,
    })),
  ];
  try {
    await withSystems(
      {
        dataset,
        systems: settings.systems,
        negotiation: settings.negotiation,
        maxInFlight: settings.concurrency,
        profileDir: settings.cpuProfile ? profileDir : undefined,
      },
      async (systems) => {
        const infos: SystemInfo[] = [];
        for (const system of systems) {
          infos.push({
            name: system.name,
            description: system.description,
            serverVersion: system.serverVersion,
            protocolVersion: system.protocolVersion,
            tools: await checkAnswers(system, points),
          });
        }
        if (settings.warmupCalls > 0) {
          await warmUpAll(systems, points, (point) =>
            point.operation === 'read_file' ? settings.warmupCalls : Math.ceil(settings.warmupCalls / 4),
          );
        }
        const measured = await measureRounds(settings.rounds, points, systems);
        const measurements: Measurement[] = measured.map(({ point, system, tool, rounds, median }) => ({
          operation: point.operation,
          concurrency: point.concurrency,
          system,
          tool,
          rounds,
          median,
        }));
        const reference = infos.find((info) => info.name === 'reference');
        const report: FilesReport = {
          benchmark: 'files',
          startedAt,
          settings,
          machine: describeMachine({
            referenceServer: reference?.serverVersion ?? 'not run',
            mcpClient: clientVersion(),
          }),
          dataset: {
            document: DOCUMENT_NAME,
            documentBytes: DOCUMENT_BYTES,
            directory: DIRECTORY_NAME,
            directoryEntries: DIRECTORY_ENTRIES,
          },
          loadAverage: { atStart: loadAtStart, atEnd: loadAverage() },
          systems: infos,
          measurements,
          ratios: ratiosOf(measurements),
        };
        process.stdout.write(`\n${formatTable(report)}\n\n`);
        for (const file of await writeResults(report, RESULTS_DIR)) log(`wrote ${file}`);
        if (settings.cpuProfile) log(`CPU profiles in ${profileDir}`);
        flagFailures(measured);
      },
    );
  } finally {
    await dataset.remove();
  }
}

await main();
