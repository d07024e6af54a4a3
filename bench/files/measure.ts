import { createHistogram } from 'node:perf_hooks';
import { processesCpuMs, spent } from '../shared/cpu.ts';
import type { Probe, RunningSystem } from './systems/system.ts';

export interface Segment {
  readonly calls: number;
  readonly seconds: number;
  readonly callsPerSecond: number;
  readonly latencyMs: { readonly mean: number; readonly p50: number; readonly p99: number; readonly max: number };
  /** Answers that were a tool error or a thrown protocol error: must be 0. */
  readonly failures: number;
  /** User + system CPU of the server process during the segment, per call; undefined where /proc is unreadable. */
  readonly serverCpuMsPerCall: number | undefined;
  /** The same for this process: the client (JSON parsing, output-schema validation) and the loop around it. */
  readonly clientCpuMsPerCall: number;
}

/** Whole calls per second, but a tenth below 100, where a 4 MiB read's 2.4 calls/s would otherwise read 2. */
function roundRate(rate: number): number {
  return rate >= 100 ? Math.round(rate) : Math.round(rate * 10) / 10;
}

/**
 * Makes `calls` calls of `probe` with `concurrency` of them in flight (closed loop: each worker sends
 * its next call when its previous answer arrives) and returns what they cost.
 *
 * Latency is taken around one call: for the MCP systems `client.callTool()`, from the request
 * leaving the client to the parsed, schema-checked result; for the floor `fetch()` and the parsed
 * body. In nanoseconds, so sub-millisecond answers keep their resolution.
 */
export async function runSegment(
  system: RunningSystem,
  probe: Probe,
  calls: number,
  concurrency: number,
): Promise<Segment> {
  const latencies = createHistogram();
  let failures = 0;
  let issued = 0;
  const worker = async () => {
    while (issued < calls) {
      issued += 1;
      const started = process.hrtime.bigint();
      try {
        if (!(await probe.call())) failures += 1;
      } catch {
        failures += 1;
      }
      latencies.record(process.hrtime.bigint() - started);
    }
  };
  const cpuBefore = processesCpuMs([system.pid]);
  const selfBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, worker));
  const seconds = (performance.now() - started) / 1000;
  const self = process.cpuUsage(selfBefore);
  const serverMs = spent(cpuBefore, processesCpuMs([system.pid]));
  const ms = (nanoseconds: number) => Math.round(nanoseconds / 1000) / 1000;
  return {
    calls,
    seconds: Math.round(seconds * 1000) / 1000,
    callsPerSecond: roundRate(calls / seconds),
    latencyMs: {
      mean: ms(latencies.mean),
      p50: ms(latencies.percentile(50)),
      p99: ms(latencies.percentile(99)),
      max: ms(latencies.max),
    },
    failures,
    serverCpuMsPerCall: serverMs === undefined ? undefined : serverMs / calls,
    clientCpuMsPerCall: (self.user + self.system) / 1000 / calls,
  };
}

/** Calls not counted: JIT compilation, the first opens and directory reads. */
export async function warmUp(probe: Probe, calls: number): Promise<void> {
  for (let done = 0; done < calls; done += 1) await probe.call();
}

/**
 * The median of each figure over the rounds, so one round disturbed by the machine does not decide;
 * failures are summed instead, since any failure at all makes the figures suspect.
 */
export function medianSegment(rounds: readonly Segment[]): Segment {
  const median = (values: readonly number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  };
  const of = (pick: (segment: Segment) => number) => median(rounds.map(pick));
  const cpu = rounds.map((segment) => segment.serverCpuMsPerCall);
  return {
    calls: of((segment) => segment.calls),
    seconds: of((segment) => segment.seconds),
    callsPerSecond: roundRate(of((segment) => segment.callsPerSecond)),
    latencyMs: {
      mean: of((segment) => segment.latencyMs.mean),
      p50: of((segment) => segment.latencyMs.p50),
      p99: of((segment) => segment.latencyMs.p99),
      max: of((segment) => segment.latencyMs.max),
    },
    failures: rounds.reduce((sum, segment) => sum + segment.failures, 0),
    serverCpuMsPerCall: cpu.every((value) => value !== undefined) ? median(cpu) : undefined,
    clientCpuMsPerCall: of((segment) => segment.clientCpuMsPerCall),
  };
}
