/**
 * What run.ts and curves.ts share: starting the systems asked for, checking their answers, warming
 * them up, and the rounds in which every system is measured at every point.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { log } from '../shared/cli.ts';
import type { Dataset, Document } from './dataset.ts';
import { medianSegment, runSegment, type Segment, warmUp } from './measure.ts';
import { startFloor } from './systems/floor.ts';
import { FLOTILLA_MAIN, startFlotilla, startFlotillaHttp } from './systems/flotilla.ts';
import { startReference } from './systems/reference.ts';
import type { Negotiation, Operation, Probe, RunningSystem, StartOptions, SystemName } from './systems/system.ts';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

const STARTERS: Record<SystemName, (options: StartOptions) => Promise<RunningSystem>> = {
  flotilla: startFlotilla,
  reference: startReference,
  'flotilla-http': startFlotillaHttp,
  floor: startFloor,
};

/** One thing measured on every system in every round: an operation at a concurrency. */
export type Point = { readonly concurrency: number; readonly calls: number } & (
  | { readonly operation: 'read_file'; readonly document: Document }
  | { readonly operation: 'list_directory' }
);

/** One probe of one system at one point: every round, and their median. */
export interface PointMeasurement {
  readonly point: Point;
  readonly system: SystemName;
  readonly tool: string;
  readonly rounds: readonly Segment[];
  readonly median: Segment;
}

/** A tool as the report shows it, with the size of one answer as the client received it. */
export interface CheckedTool {
  readonly operation: Operation;
  readonly tool: string;
  /** The document read; absent for listings. */
  readonly documentBytes?: number;
  readonly resultBytes: number;
}

export function probesAt(system: RunningSystem, point: Point): readonly Probe[] {
  return point.operation === 'read_file' ? [system.read(point.document)] : system.listings;
}

export function loadAverage(): number[] {
  return loadavg().map((load) => Math.round(load * 100) / 100);
}

/** The official client's version, from its package.json (which its `exports` map does not expose). */
export function clientVersion(): string {
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

export function requireBuild(): void {
  if (!existsSync(FLOTILLA_MAIN)) {
    throw new Error(`${FLOTILLA_MAIN} is missing: run \`npm run build\` at the repository root first`);
  }
}

export interface SessionOptions {
  readonly dataset: Dataset;
  readonly systems: readonly SystemName[];
  readonly negotiation: Negotiation;
  readonly maxInFlight: number;
  /** Where each server writes a V8 CPU profile (a directory per system), or undefined for none. */
  readonly profileDir: string | undefined;
  /** The profiler's sampling interval in µs, when not V8's default (1000). */
  readonly profileIntervalUs?: number;
}

function profileOptions(dir: string, name: SystemName, intervalUs: number | undefined): string {
  const interval = intervalUs ? ` --cpu-prof-interval=${intervalUs}` : '';
  return `--cpu-prof --cpu-prof-dir=${join(dir, name)}${interval}`;
}

/**
 * Starts the systems one after the other, runs `body` with them all up, and stops them all however
 * it ends (one after the other: each finishes on its own, writing its CPU profile if asked). On a
 * failure, what each server last wrote to stderr goes to the log.
 */
export async function withSystems<T>(
  options: SessionOptions,
  body: (systems: readonly RunningSystem[]) => Promise<T>,
): Promise<T> {
  const systems: RunningSystem[] = [];
  try {
    for (const name of options.systems) {
      log(`${name}: starting`);
      systems.push(
        await STARTERS[name]({
          dataset: options.dataset,
          negotiation: options.negotiation,
          maxInFlight: options.maxInFlight,
          ...(options.profileDir
            ? { nodeOptions: profileOptions(options.profileDir, name, options.profileIntervalUs) }
            : {}),
        }),
      );
    }
    return await body(systems);
  } catch (error) {
    for (const system of systems) {
      const tail = system.outputTail().trim();
      if (tail) log(`${system.name} stderr:\n${tail}`);
    }
    throw error;
  } finally {
    for (const system of systems) await system.stop().catch(() => undefined);
  }
}

/**
 * Asks each question once and checks the answer before any timing: a benchmark of a server that
 * answers quickly with an error, a truncated file or the first page of a listing would measure
 * nothing. Returns the tools with the size of their answers.
 */
export async function checkAnswers(system: RunningSystem, points: readonly Point[]): Promise<CheckedTool[]> {
  const tools: CheckedTool[] = [];
  const seen = new Set<string>();
  for (const point of points) {
    for (const probe of probesAt(system, point)) {
      const documentBytes = point.operation === 'read_file' ? point.document.bytes : undefined;
      const key = `${probe.tool}/${documentBytes}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const resultBytes = await probe.check();
      tools.push({
        operation: probe.operation,
        tool: probe.tool,
        ...(documentBytes === undefined ? {} : { documentBytes }),
        resultBytes,
      });
    }
  }
  return tools;
}

/** Calls not counted, before the first round: JIT compilation, the first opens and directory reads. */
export async function warmUpAll(
  systems: readonly RunningSystem[],
  points: readonly Point[],
  callsFor: (point: Point) => number,
): Promise<void> {
  for (const system of systems) {
    log(`${system.name}: warming up`);
    const seen = new Set<string>();
    for (const point of points) {
      for (const probe of probesAt(system, point)) {
        const key = `${probe.tool}/${point.operation === 'read_file' ? point.document.name : ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        await warmUp(probe, callsFor(point));
      }
    }
  }
}

function pointLabel(point: Point): string {
  const what = point.operation === 'read_file' ? `read_file ${point.document.bytes} B` : point.operation;
  return `${what} ×${point.concurrency}`;
}

/**
 * The systems stay up for the whole run and take turns: every round measures each point on one
 * system after the other, and the next round goes through the systems in the reverse order, so
 * none is systematically measured on a warmer (or busier) machine.
 */
export async function measureRounds(
  rounds: number,
  points: readonly Point[],
  systems: readonly RunningSystem[],
): Promise<PointMeasurement[]> {
  const probes = new Map(systems.map((system) => [system, points.map((point) => probesAt(system, point))]));
  const segments = new Map<string, Segment[]>();
  const key = (index: number, system: SystemName, tool: string) => `${index}/${system}/${tool}`;
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? systems : [...systems].reverse();
    for (const [index, point] of points.entries()) {
      for (const system of order) {
        for (const probe of probes.get(system)?.[index] ?? []) {
          const segment = await runSegment(system, probe, point.calls, point.concurrency);
          log(
            `round ${round + 1}/${rounds} ${pointLabel(point)} ${system.name} ${probe.tool}: ` +
              `${segment.callsPerSecond} calls/s, p50 ${segment.latencyMs.p50} ms, p99 ${segment.latencyMs.p99} ms` +
              (segment.failures > 0 ? `, ${segment.failures} FAILED` : ''),
          );
          const id = key(index, system.name, probe.tool);
          segments.set(id, [...(segments.get(id) ?? []), segment]);
        }
      }
    }
  }
  return points.flatMap((point, index) =>
    systems.flatMap((system) =>
      (probes.get(system)?.[index] ?? []).map((probe) => {
        const measured = segments.get(key(index, system.name, probe.tool)) ?? [];
        return { point, system: system.name, tool: probe.tool, rounds: measured, median: medianSegment(measured) };
      }),
    ),
  );
}

/** Sets the exit code and says so when any system had failed calls: their figures are suspect. */
export function flagFailures(measurements: readonly PointMeasurement[]): void {
  const troubled = measurements.filter((measurement) => measurement.median.failures > 0);
  if (troubled.length === 0) return;
  const names = [...new Set(troubled.map((measurement) => measurement.system))];
  log(`warning: ${names.join(', ')} had failed calls; their figures are suspect`);
  process.exitCode = 1;
}
