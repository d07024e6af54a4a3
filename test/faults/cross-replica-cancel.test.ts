import type { ServiceProcess } from '@flotilla/testkit';
import { Client as Client1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as Http1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../clients/fleet.js';

// A 2025-era client cancels over stateless HTTP with a `notifications/cancelled` POST of its own. Behind a Service it
// can reach another replica than the call it names: here it always does (calls go to replica A, everything else to
// replica B), and the Postgres backend running the call must still be cancelled.

const PATIENT = { TOOL_TIMEOUT_MS: '60000', DB_STATEMENT_TIMEOUT_MS: '60000' };
const LEGACY = '2025-11-25';

let fleet: Fleet;
let callee: ServiceProcess;
let other: ServiceProcess;

beforeAll(async () => {
  fleet = await startFleet();
  [callee, other] = await Promise.all([fleet.spawnHttp('database', PATIENT), fleet.spawnHttp('database', PATIENT)]);
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

/** Statements still running whose text carries `marker`. */
async function running(marker: string): Promise<number> {
  const { rows } = await fleet.adminQuery(
    'database',
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()",
    [marker],
  );
  return rows[0].n;
}

/** A JSON-RPC message as a 2025-11-25 client without a session posts it. */
function post(url: string, token: string, message: Record<string, unknown>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': LEGACY,
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(message),
  });
}

const cancelled = (requestId: string | number) => ({
  jsonrpc: '2.0',
  method: 'notifications/cancelled',
  params: { requestId, reason: 'the user clicked stop' },
});

describe('cancellation of a 2025-era HTTP call through another replica', () => {
  it("stops the SDK 1.x client's pg_sleep when its cancel notification lands on the other replica", async () => {
    const routed: { replica: 'callee' | 'other'; method: string }[] = [];
    // tools/call goes to the callee and its HTTP request stays open whatever the client does with it, so only the
    // notification, which goes to the other replica, can stop the call.
    const routedFetch = (input: string | URL | Request, init?: RequestInit) => {
      const method = typeof init?.body === 'string' ? String(JSON.parse(init.body).method) : String(init?.method);
      if (method === 'tools/call') {
        routed.push({ replica: 'callee', method });
        const { signal: _ignored, ...open } = init ?? {};
        return fetch(callee.mcpUrl, open);
      }
      routed.push({ replica: 'other', method });
      return fetch(input instanceof Request ? input : other.mcpUrl, init);
    };
    const client = new Client1({ name: 'flotilla-cancel', version: '1.0.0' });
    await client.connect(
      new Http1(new URL(other.mcpUrl), {
        requestInit: { headers: { Authorization: `Bearer ${fleet.apiKey}` } },
        fetch: routedFetch,
      }),
    );
    try {
      const controller = new AbortController();
      const call = client.callTool(
        { name: 'query', arguments: { sql: 'SELECT pg_sleep(30) AS cancel_across_replicas' } },
        undefined,
        { signal: controller.signal, timeout: 60_000 },
      );
      call.catch(() => undefined);
      await expect.poll(() => running('cancel_across_replicas'), { timeout: 10_000 }).toBe(1);
      const aborted = Date.now();
      controller.abort('the user clicked stop');
      await expect(call).rejects.toThrow();
      await expect.poll(() => running('cancel_across_replicas'), { timeout: 5000 }).toBe(0);
      expect(Date.now() - aborted).toBeLessThan(5000);
      expect(routed).toContainEqual({ replica: 'other', method: 'notifications/cancelled' });
      expect(routed.filter((entry) => entry.method === 'tools/call')).toEqual([
        { replica: 'callee', method: 'tools/call' },
      ]);
    } finally {
      await client.close();
    }
  });

  it("ignores another principal's cancel for the same request id, and honours the caller's own", async () => {
    const requestId = 'report-7';
    const answer = post(callee.mcpUrl, fleet.apiKey, {
      jsonrpc: '2.0',
      id: requestId,
      method: 'tools/call',
      params: { name: 'query', arguments: { sql: 'SELECT pg_sleep(30) AS cancel_by_owner_only' } },
    }).then((response) => response.text());
    await expect.poll(() => running('cancel_by_owner_only'), { timeout: 10_000 }).toBe(1);

    expect((await post(other.mcpUrl, fleet.outsiderApiKey, cancelled(requestId))).status).toBe(202);
    // The same id as a number is another request in JSON-RPC.
    expect((await post(other.mcpUrl, fleet.apiKey, cancelled(7))).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await running('cancel_by_owner_only')).toBe(1);

    expect((await post(other.mcpUrl, fleet.apiKey, cancelled(requestId))).status).toBe(202);
    await expect.poll(() => running('cancel_by_owner_only'), { timeout: 5000 }).toBe(0);
    // Nobody waits for it any more, but the call still ends with a SPEC §2 error, not a hang or a crash.
    expect(await answer).toContain('cancelled');
  });

  it('also stops a call when the cancel lands on the replica running it', async () => {
    const answer = post(callee.mcpUrl, fleet.apiKey, {
      jsonrpc: '2.0',
      id: 41,
      method: 'tools/call',
      params: { name: 'query', arguments: { sql: 'SELECT pg_sleep(30) AS cancel_on_same_replica' } },
    }).then((response) => response.text());
    await expect.poll(() => running('cancel_on_same_replica'), { timeout: 10_000 }).toBe(1);
    expect((await post(callee.mcpUrl, fleet.apiKey, cancelled(41))).status).toBe(202);
    await expect.poll(() => running('cancel_on_same_replica'), { timeout: 5000 }).toBe(0);
    expect(await answer).toContain('cancelled');
  });
});
