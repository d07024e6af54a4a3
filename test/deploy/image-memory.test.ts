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

const dockerfile = fileURLToPath(new URL('../../docker/Dockerfile', import.meta.url));
const PEAK_LIMIT_MIB = 300;

let fleet: Fleet;
let server: ServiceProcess;

beforeAll(async () => {
  fleet = await startFleet();
  server = await fleet.spawnHttp('database', { LOG_LEVEL: 'info' }, imageNodeFlags(dockerfile));
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

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
});
