import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freePort, imageNodeFlags, type ServiceProcess, spawnService } from '@flotilla/testkit';
import { procStat } from '../shared/cpu.ts';

/** How often /readyz is asked while a server starts: the resolution of the time-to-ready figure. */
const POLL_MS = 10;
const READY_TIMEOUT_MS = 20_000;
/** Node's flags as the image's entry point passes them: the footprint of a server as a pod runs it. */
const NODE_FLAGS = imageNodeFlags(fileURLToPath(new URL('../../docker/Dockerfile', import.meta.url)));

export interface TimedStart {
  readonly service: ServiceProcess;
  /** From spawning `node dist/main.js` to the first 200 from /readyz. */
  readonly readyMs: number;
  /**
   * From spawning to the time stamp of the server's "serving MCP over HTTP" log line (its ports are
   * open): what loading and setting up took, before the first readiness check. Undefined if not logged.
   */
  readonly listeningMs: number | undefined;
  /**
   * CPU time (user + system, all threads) the process had used once ready: unlike the wall-clock
   * figures, it hardly moves when other work competes for the cores. Undefined where /proc is unreadable.
   */
  readonly cpuMs: number | undefined;
}

/**
 * Spawns a built server through the test kit (which waits for /readyz itself, every 100 ms) and
 * asks /readyz every 10 ms beside it, so the figure is not rounded up to the test kit's interval.
 */
export async function timedStart(main: string, env: Record<string, string>): Promise<TimedStart> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const readyz = `http://127.0.0.1:${adminPort}/readyz`;
  let settled = false;
  const spawnedAtEpoch = Date.now();
  const spawnedAt = performance.now();
  const spawned = spawnService(
    main,
    { ...env, PORT: String(port), ADMIN_PORT: String(adminPort) },
    READY_TIMEOUT_MS,
    [],
    NODE_FLAGS,
  );
  const ready = firstReady(readyz, spawnedAt, () => settled);
  const service = await spawned.finally(() => {
    settled = true;
  });
  const cpuMs = service.child.pid === undefined ? undefined : procStat(service.child.pid)?.ownMs;
  return { service, readyMs: await ready, listeningMs: listeningAt(service.stderr(), spawnedAtEpoch), cpuMs };
}

/** Milliseconds from `since` to the first 200 from `url`; gives up once the test kit's own wait has ended. */
async function firstReady(url: string, since: number, gaveUp: () => boolean): Promise<number> {
  // The test kit saw 200 (or failed) by the time it settles; a few more polls let this side see it too.
  let pollsAfterSettled = 0;
  while (pollsAfterSettled < 100) {
    const status = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      async (response) => {
        await response.arrayBuffer();
        return response.status;
      },
      () => 0,
    );
    if (status === 200) return Math.round((performance.now() - since) * 10) / 10;
    if (gaveUp()) pollsAfterSettled += 1;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return Number.NaN;
}

function listeningAt(stderr: string, spawnedAtEpoch: number): number | undefined {
  for (const line of stderr.split('\n')) {
    if (!line.includes('serving MCP over HTTP')) continue;
    try {
      // The servers log ISO time stamps (millisecond resolution).
      const time = Date.parse(String((JSON.parse(line) as { time?: unknown }).time));
      return Number.isNaN(time) ? undefined : time - spawnedAtEpoch;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
