import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { callTool, connectMcpClient, imageNodeFlags, type ServiceProcess } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../clients/fleet.js';

// The database server's SQL guard runs libpg-query, a WebAssembly build of Postgres's parser. Left to
// its defaults, V8 recompiles that 1.7 MB module with its optimising compiler on the first parse and
// holds about 550 MB while doing so (peak RSS 690 MB, measured by bench/footprint): a pod under the
// chart's 512Mi limit would be OOM-killed on its first query. The image's entry point runs Node with
// --liftoff-only; this starts the server with exactly the image's flags and watches its peak RSS.
//
// The entry point also passes --expose-gc, so the runtime can run V8's memory-reducing GC once the
// server is loaded and again after each busy spell (libs/runtime/src/memory-release.ts). Beside the
// image's server runs one started without that flag: the young generation V8 grew while loading is
// what the release gives back, and what the other one keeps.

const dockerfile = fileURLToPath(new URL('../../docker/Dockerfile', import.meta.url));
const PEAK_LIMIT_MIB = 300;

const IDLE_MS = 1000;

let fleet: Fleet;
let server: ServiceProcess;
let withoutGc: ServiceProcess;

beforeAll(async () => {
  fleet = await startFleet();
  const env = { LOG_LEVEL: 'debug', MEMORY_RELEASE_IDLE_MS: String(IDLE_MS) };
  server = await fleet.spawnHttp('database', env, imageNodeFlags(dockerfile));
  withoutGc = await fleet.spawnHttp(
    'database',
    env,
    imageNodeFlags(dockerfile).filter((flag) => flag !== '--expose-gc'),
  );
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

/** The V8 young generation's committed size, from the server's own /metrics (prom-client's heap-space gauges). */
async function youngGenerationMB(service: ServiceProcess): Promise<number> {
  const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
  const value = /^nodejs_heap_space_size_total_bytes\{[^}]*space="new"[^}]*\} (\S+)$/m.exec(text)?.[1];
  if (value === undefined) throw new Error('no nodejs_heap_space_size_total_bytes{space="new"} in /metrics');
  return Number(value) / 1e6;
}

const releases = (service: ServiceProcess) =>
  service
    .stderr()
    .split('\n')
    .filter((line) => line.includes('"idle: released memory"'));

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

describe('the database image under its memory limit', () => {
  it('parses its first and later queries with the peak RSS far below the 512Mi limit', async () => {
    expect(imageNodeFlags(dockerfile)).toContain('--liftoff-only');
    const client = await connectMcpClient(server.mcpUrl, { token: fleet.apiKey });
    try {
      for (let index = 0; index < 200; index++) {
        const outcome = await callTool(client, 'query', {
          sql: `SELECT id, status FROM orders WHERE id > $1 ORDER BY id LIMIT ${1 + (index % 7)}`,
          params: [index],
        });
        expect(outcome.isError, JSON.stringify(outcome.content)).not.toBe(true);
      }
    } finally {
      await client.close();
    }
    // The recompilation, when it happens, runs in the background within two seconds of the first parses.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const peak = await peakRssMiB(server.child.pid as number);
    console.log(
      `database server peak RSS after 200 queries with ${imageNodeFlags(dockerfile).join(' ')}: ${Math.round(peak)} MiB`,
    );
    expect(peak).toBeLessThan(PEAK_LIMIT_MIB);
  }, 60_000);

  it('gives back what loading grew before its first request, and what serving grew once it is idle', async () => {
    expect(imageNodeFlags(dockerfile)).toContain('--expose-gc');
    const kept = await youngGenerationMB(withoutGc);
    const released = await youngGenerationMB(server);
    console.log(
      `young generation once ready: ${released.toFixed(1)} MB with --expose-gc, ${kept.toFixed(1)} MB without`,
    );
    expect(released).toBeLessThan(kept / 4);

    // The first test's 200 queries were the busy spell; the last began more than IDLE_MS ago.
    const deadline = Date.now() + 10 * IDLE_MS;
    while (releases(server).length === 0 && Date.now() < deadline) await sleep(100);
    const [line] = releases(server);
    expect(line, 'no "idle: released memory" line within 10 s').toBeDefined();
    const figures = JSON.parse(line as string) as { rssBeforeMB: number; rssAfterMB: number; pauseMs: number };
    expect(figures.rssAfterMB).toBeLessThan(figures.rssBeforeMB);
    expect(await youngGenerationMB(server)).toBeLessThan(kept / 4);
    // Nothing began since: a quiet spell releases once, not on every tick.
    await sleep(3 * IDLE_MS);
    expect(releases(server)).toHaveLength(1);
    // The process without the flag never tries.
    expect(releases(withoutGc)).toHaveLength(0);
  }, 60_000);
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
