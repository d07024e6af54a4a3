import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, SERVER_NAMES, startFleet } from '../clients/fleet.js';
import { failureSample, startLoad, tally } from './load.js';
import { startReplicaSet } from './replica-set.js';
import { workloadFor } from './workloads.js';

// SPEC §7 under a rolling update: three replicas of each server behind a proxy that follows /readyz, a steady load of
// 2026-07-28 and 2025-11-25 clients, and every replica replaced in turn with SIGTERM. Not one call may fail.

/** Ten readiness probes' worth: the proxy has stopped routing to a replica long before it stops accepting. */
const REPLICA_ENV = {
  SHUTDOWN_DELAY_MS: '1000',
  SHUTDOWN_TIMEOUT_MS: '10000',
  // The load is thousands of calls from one principal; the limit is not what this test is about.
  RATE_LIMIT_PER_MINUTE: '1000000',
};
const CLIENTS = 4;
const STEADY_MS = 1000;

let fleet: Fleet;
const figures: Record<string, unknown>[] = [];

beforeAll(async () => {
  fleet = await startFleet();
}, 120_000);

afterAll(async () => {
  if (figures.length > 0) console.table(figures);
  await fleet?.stop();
});

describe.each(SERVER_NAMES)('a rolling restart of three %s replicas', (server) => {
  it('fails no call, loses no write, and every replica exits 0', async () => {
    const replicas = await startReplicaSet(fleet, server, 3, REPLICA_ENV);
    const workload = workloadFor(server, fleet, `roll-${server}`);
    const load = await startLoad({ url: replicas.url, token: fleet.apiKey, clients: CLIENTS, call: workload.call });
    try {
      await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
      const rollStarted = load.now();
      await replicas.roll();
      const rollSeconds = (load.now() - rollStarted) / 1000;
      await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
      await load.stop();
      const counts = tally(load.records);
      const writes = await workload.verify();
      figures.push({
        server,
        calls: counts.calls,
        failed: counts.calls - counts.ok,
        'writes acked': writes.acknowledged,
        'writes found': writes.found,
        'exit codes': replicas.exits.map((exit) => exit.code).join(' '),
        'SIGTERM→exit ms': replicas.exits.map((exit) => exit.ms).join(' '),
        'roll s': rollSeconds.toFixed(1),
      });

      expect(failureSample(load.records), JSON.stringify(counts)).toEqual([]);
      expect(counts.ok).toBeGreaterThan(100);
      // Both eras were served, by old and new replicas alike.
      expect(new Set(load.records.map((record) => record.era))).toEqual(new Set(['modern', 'legacy']));
      expect(replicas.proxy.proxyErrors).toBe(0);
      expect(writes.acknowledged).toBeGreaterThan(50);
      expect(writes.found).toBe(writes.acknowledged);
      expect(replicas.exits).toHaveLength(3);
      for (const exit of replicas.exits) expect(exit).toMatchObject({ code: 0, signal: null });
      // Every successor took traffic before the old replicas were gone.
      for (const replica of replicas.replicas) expect(replicas.proxy.served(replica)).toBeGreaterThan(0);
    } finally {
      await load.stop();
      await replicas.stop();
    }
  }, 120_000);
});
