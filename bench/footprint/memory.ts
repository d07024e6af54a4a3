import { readFileSync } from 'node:fs';

/** Decimal megabytes, the unit of the target (100 MB); /proc counts in KiB. */
const MB = 1_000_000;

/** What the kernel says about a process's memory (Linux, /proc/<pid>/status), in MB (10^6 bytes). */
export interface ProcMemory {
  /** Resident now: what the 100 MB target is about. */
  readonly rssMB: number;
  /** The highest RSS the process ever had. */
  readonly peakRssMB: number;
  /** Of the RSS: private memory (V8 heap, malloc, WASM memory touched). */
  readonly anonMB: number;
  /** Of the RSS: pages of mapped files, mostly the Node.js binary's code; shared with other processes and clean. */
  readonly fileMB: number;
}

/** Undefined where /proc cannot be read (not Linux, another pid namespace, or the process is gone). */
export function procMemory(pid: number): ProcMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  // proc(5): "VmRSS:     51234 kB" — kB here means KiB.
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  const figures = [kib('VmRSS'), kib('VmHWM'), kib('RssAnon'), kib('RssFile')].map((value) =>
    round1((value * 1024) / MB),
  );
  const [rssMB = Number.NaN, peakRssMB = Number.NaN, anonMB = Number.NaN, fileMB = Number.NaN] = figures;
  if (figures.some(Number.isNaN)) return undefined;
  return { rssMB, peakRssMB, anonMB, fileMB };
}

/** What the server's own /metrics (prom-client's default metrics) says about its memory, in MB (10^6 bytes). */
export interface RuntimeMemory {
  readonly heapUsedMB?: number | undefined;
  /** The V8 heap's committed size: used plus room to allocate, mostly a young generation grown under load. */
  readonly heapTotalMB?: number | undefined;
  /** ArrayBuffers and other memory outside the V8 heap that V8 knows of (reserved, not necessarily resident). */
  readonly externalMB?: number | undefined;
  /** The process's own RSS reading, for comparison with /proc's. */
  readonly residentMB?: number | undefined;
}

const METRICS = {
  heapUsedMB: 'nodejs_heap_size_used_bytes',
  heapTotalMB: 'nodejs_heap_size_total_bytes',
  externalMB: 'nodejs_external_memory_bytes',
  residentMB: 'process_resident_memory_bytes',
} as const;

/** Reads the admin port's /metrics (no auth: the admin port is never exposed with the MCP endpoint). */
export async function runtimeMemory(adminUrl: string): Promise<RuntimeMemory> {
  const response = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  // The floor server has no /metrics.
  if (response.status === 404) return {};
  if (!response.ok) throw new Error(`${adminUrl}/metrics answered ${response.status}: ${text.slice(0, 300)}`);
  const gauge = (name: string) => {
    // `name{service="…"} value`: the registry labels every metric with the service.
    const value = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1];
    return value === undefined ? undefined : round1(Number(value) / MB);
  };
  return {
    heapUsedMB: gauge(METRICS.heapUsedMB),
    heapTotalMB: gauge(METRICS.heapTotalMB),
    externalMB: gauge(METRICS.externalMB),
    residentMB: gauge(METRICS.residentMB),
  };
}

/** One reading of a running server: the kernel's figures and its own. */
export interface MemoryReading extends ProcMemory, RuntimeMemory {}

export async function readMemory(pid: number, adminUrl: string): Promise<MemoryReading> {
  // /proc first: scraping /metrics allocates in the server, which the kernel figure should not include.
  const proc = procMemory(pid);
  if (!proc) throw new Error(`cannot read /proc/${pid}/status`);
  return { ...proc, ...(await runtimeMemory(adminUrl)) };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
