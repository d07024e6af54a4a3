import type { ServiceProcess } from '@flotilla/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../clients/fleet.js';

// The per-principal budget is spent in leases (libs/resilience/src/leased-budget.ts): each replica takes 1 % of it
// from Redis at once. Two replicas on one Redis must together admit no more than the budget in a window, and lose at
// most replicas × (lease − 1) of it.

const BUDGET = 1000;
const LEASE = 10;
const REQUESTS = 1500;
const IN_FLIGHT = 16;

let fleet: Fleet;
let replicas: ServiceProcess[];
let redis: Redis;

beforeAll(async () => {
  fleet = await startFleet();
  const env = { RATE_LIMIT_PER_MINUTE: String(BUDGET), RATE_LIMIT_FAIL_MODE: 'closed' };
  replicas = await Promise.all([fleet.spawnHttp('database', env), fleet.spawnHttp('database', env)]);
  redis = new Redis(fleet.redis.url);
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await fleet?.stop();
});

/** Times Redis ran a script: the rate limiter's one command per budget round trip. */
async function scriptCalls(): Promise<number> {
  const stats = await redis.info('commandstats');
  return [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce(
    (sum, match) => sum + Number(match[1]),
    0,
  );
}

describe('the leased per-principal budget across two replicas', () => {
  it(`admits at most ${BUDGET} calls a minute in all, at most 2 × ${LEASE - 1} fewer, with one Redis trip per lease`, async () => {
    const before = await scriptCalls();
    const statuses: number[] = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < REQUESTS; i = next++) {
        const replica = replicas[i % 2] as ServiceProcess;
        const response = await fetch(replica.mcpUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': '2025-11-25',
            authorization: `Bearer ${fleet.apiKey}`,
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/list' }),
        });
        await response.arrayBuffer();
        statuses.push(response.status);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const trips = (await scriptCalls()) - before;
    const admitted = statuses.filter((status) => status === 200).length;
    const refused = statuses.filter((status) => status === 429).length;
    console.table([{ budget: BUDGET, lease: LEASE, requests: REQUESTS, admitted, refused, 'Redis trips': trips }]);

    expect(admitted + refused).toBe(REQUESTS);
    expect(admitted).toBeLessThanOrEqual(BUDGET);
    expect(admitted).toBeGreaterThanOrEqual(BUDGET - 2 * (LEASE - 1));
    // One trip per lease, plus one per refused lease attempt; one per call without leasing.
    expect(trips).toBeLessThan(admitted / 2);
  });
});
