/**
 * `npm run files -w @flotilla/bench`: read_file of a 4 KiB file and list_directory of 1,000 entries,
 * served by Flotilla's files server and by the official `@modelcontextprotocol/server-filesystem`,
 * both over stdio through the same official MCP client, in one run. Prints a side-by-side table and
 * writes results/files-<time>.json and results/files-latest.md.
 * Settings: see settings.ts or `node files/run.ts --help`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitOnSignals, log } from '../shared/cli.ts';
import { describeMachine } from '../shared/machine.ts';
import { createDataset, DIRECTORY_ENTRIES, DIRECTORY_NAME, DOCUMENT_BYTES, DOCUMENT_NAME } from './dataset.ts';
import { medianSegment, runSegment, type Segment, warmUp } from './measure.ts';
import { type FilesReport, formatTable, type Measurement, ratiosOf, type SystemInfo, writeResults } from './report.ts';
import { type FilesSettings, readSettings } from './settings.ts';
import {
  FLOTILLA_MAIN,
  type Operation,
  type Probe,
  type RunningSystem,
  type SystemName,
  startFlotilla,
  startReference,
} from './systems.ts';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const OPERATIONS: readonly Operation[] = ['read_file', 'list_directory'];

/**
 * Asks each question once and checks the answer before any timing: a benchmark of a server that
 * answers quickly with an error, a truncated file or the first page of a listing would measure
 * nothing. Returns the tools with the size of their answers.
 */
async function checkAnswers(system: RunningSystem): Promise<SystemInfo['tools']> {
  const tools: { operation: Operation; tool: string; resultBytes: number }[] = [];
  for (const probe of system.probes) {
    const result = await system.client.callTool(probe.call);
    probe.check(result);
    tools.push({
      operation: probe.operation,
      tool: probe.call.name,
      resultBytes: Buffer.byteLength(JSON.stringify(result)),
    });
  }
  return tools;
}

function loadAverage(): number[] {
  return loadavg().map((load) => Math.round(load * 100) / 100);
}

/** The official client's version, from its package.json (which its `exports` map does not expose). */
function clientVersion(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/client'));
  while (dir !== dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version: string };
      if (name === '@modelcontextprotocol/client') return version;
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/**
 * Both servers stay up for the whole run and take turns: every round measures each operation on
 * one system and then at once on the other, and the next round starts with the other one, so
 * neither is systematically measured on a warmer (or busier) machine.
 */
async function measureRounds(settings: FilesSettings, systems: readonly RunningSystem[]): Promise<Measurement[]> {
  const concurrencies = settings.concurrency > 1 ? [1, settings.concurrency] : [1];
  const rounds = new Map<string, Segment[]>();
  const key = (concurrency: number, system: SystemName, probe: Probe) => `${concurrency}/${system}/${probe.call.name}`;
  for (let round = 0; round < settings.rounds; round += 1) {
    const order = round % 2 === 0 ? systems : [...systems].reverse();
    for (const operation of OPERATIONS) {
      const calls = operation === 'read_file' ? settings.readCalls : settings.listCalls;
      for (const concurrency of concurrencies) {
        for (const system of order) {
          for (const probe of system.probes.filter((candidate) => candidate.operation === operation)) {
            const segment = await runSegment(system, probe.call, calls, concurrency);
            log(
              `round ${round + 1}/${settings.rounds} ${operation} ×${concurrency} ${system.name} ${probe.call.name}: ` +
                `${segment.callsPerSecond} calls/s, p50 ${segment.latencyMs.p50} ms, p99 ${segment.latencyMs.p99} ms` +
                (segment.failures > 0 ? `, ${segment.failures} FAILED` : ''),
            );
            const id = key(concurrency, system.name, probe);
            rounds.set(id, [...(rounds.get(id) ?? []), segment]);
          }
        }
      }
    }
  }
  const measurements: Measurement[] = [];
  for (const operation of OPERATIONS) {
    for (const concurrency of concurrencies) {
      for (const system of systems) {
        for (const probe of system.probes.filter((candidate) => candidate.operation === operation)) {
          const segments = rounds.get(key(concurrency, system.name, probe)) ?? [];
          measurements.push({
            operation,
            concurrency,
            system: system.name,
            tool: probe.call.name,
            rounds: segments,
            median: medianSegment(segments),
          });
        }
      }
    }
  }
  return measurements;
}

async function main(): Promise<void> {
  const settings = readSettings();
  if (!existsSync(FLOTILLA_MAIN)) {
    throw new Error(`${FLOTILLA_MAIN} is missing: run \`npm run build\` at the repository root first`);
  }
  exitOnSignals();
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  const profileDir = `${RESULTS_DIR}profiles/files-${startedAt.replace(/[:.]/g, '-')}`;
  const nodeOptions = (name: SystemName) =>
    settings.cpuProfile ? `--cpu-prof --cpu-prof-dir=${profileDir}/${name}` : undefined;
  log(
    `building the dataset: ${DOCUMENT_NAME} (${DOCUMENT_BYTES} bytes) and ${DIRECTORY_NAME}/ (${DIRECTORY_ENTRIES} files)`,
  );
  const dataset = await createDataset();
  const systems: RunningSystem[] = [];
  try {
    log('flotilla: starting');
    systems.push(await startFlotilla(dataset, nodeOptions('flotilla')));
    log('reference: starting');
    systems.push(await startReference(dataset, nodeOptions('reference')));
    const infos: SystemInfo[] = [];
    for (const system of systems) {
      infos.push({
        name: system.name,
        description: system.description,
        serverVersion: system.serverVersion,
        protocolVersion: system.protocolVersion,
        tools: await checkAnswers(system),
      });
    }
    if (settings.warmupCalls > 0) {
      for (const system of systems) {
        log(`${system.name}: warming up`);
        for (const probe of system.probes) {
          const calls = probe.operation === 'read_file' ? settings.warmupCalls : Math.ceil(settings.warmupCalls / 4);
          await warmUp(system, probe.call, calls);
        }
      }
    }
    const measurements = await measureRounds(settings, systems);
    const reference = infos.find((info) => info.name === 'reference');
    const report: FilesReport = {
      benchmark: 'files',
      startedAt,
      settings,
      machine: describeMachine({ referenceServer: reference?.serverVersion ?? 'not run', mcpClient: clientVersion() }),
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
    const troubled = measurements.filter((measurement) => measurement.median.failures > 0);
    if (troubled.length > 0) {
      const names = [...new Set(troubled.map((measurement) => measurement.system))];
      log(`warning: ${names.join(', ')} had failed calls; their figures are suspect`);
      process.exitCode = 1;
    }
  } catch (error) {
    for (const system of systems) {
      const tail = system.outputTail().trim();
      if (tail) log(`${system.name} stderr:\n${tail}`);
    }
    throw error;
  } finally {
    // One after the other: closing stdin lets each finish on its own, writing its CPU profile if asked.
    for (const system of systems) await system.stop().catch(() => undefined);
    await dataset.remove();
  }
}

await main();
