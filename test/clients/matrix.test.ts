import { errorOf, type ServiceProcess } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callFailing, expectToolError, MATRIX } from './cases.js';
import {
  CLIENT_KINDS,
  connect,
  type ListedTool,
  type MatrixClient,
  outputSchemaErrors,
  type Target,
} from './clients.js';
import { type Fleet, LIMITED_TOOL, mainOf, SERVER_NAMES, type ServerName, startFleet } from './fleet.js';

// Every server, over Streamable HTTP and stdio, driven by the official SDK's 1.x and 2.x clients and by raw
// 2025-06-18 JSON-RPC: each lists tools, reads a succeeding call's structuredContent, and receives isError with
// the code for an invalid argument, a refusal, a timeout and a rate limit, without the client throwing.

let fleet: Fleet;
const http = new Map<ServerName, ServiceProcess>();

beforeAll(async () => {
  fleet = await startFleet();
  for (const server of SERVER_NAMES) http.set(server, await fleet.spawnHttp(server));
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

function targetFor(server: ServerName, transport: 'http' | 'stdio'): Target {
  if (transport === 'http') return { url: http.get(server)?.mcpUrl as string, token: fleet.apiKey };
  return {
    stdio: {
      command: process.execPath,
      args: [mainOf(server), '--stdio'],
      env: { PATH: process.env.PATH ?? '', AUTH_MODE: 'none', ...fleet.envOf(server) },
    },
  };
}

for (const server of SERVER_NAMES) {
  const cases = MATRIX[server];
  for (const { kind, transports } of CLIENT_KINDS) {
    for (const transport of transports) {
      describe(`${server} over ${transport}, ${kind} client`, () => {
        let client: MatrixClient;
        let tools: ListedTool[];
        const call = (tool: string, args: Record<string, unknown>) => client.callTool(tool, args);

        beforeAll(async () => {
          client = await connect(kind, transport, targetFor(server, transport));
        }, 30_000);

        afterAll(async () => {
          await client?.close();
        });

        it('lists the tools, each with an outputSchema', async () => {
          tools = await client.listTools();
          const names = tools.map((tool) => tool.name);
          expect(names).toContain(cases.success.tool);
          expect(names).toContain(LIMITED_TOOL[server].tool);
          for (const tool of tools) expect(tool.outputSchema?.type, tool.name).toBe('object');
          if (kind === 'raw-2025-06-18') expect(client.protocolVersion).toBe('2025-06-18');
        });

        it('reads the structuredContent of a succeeding call, which fits the outputSchema', async () => {
          const outcome = await call(cases.success.tool, cases.success.args);
          expect(outcome.isError ?? false).toBe(false);
          const structured = outcome.structuredContent as Record<string, unknown>;
          cases.success.check(structured);
          const tool = tools.find((candidate) => candidate.name === cases.success.tool) as ListedTool;
          expect(outputSchemaErrors(tool, structured)).toEqual([]);
        });

        it('receives INVALID_ARGUMENT for an invalid argument', async () => {
          expectToolError(await callFailing(fleet, cases.invalid, call), cases.invalid.code);
        });

        it(`receives ${cases.refusal.code} for a refused request`, async () => {
          expectToolError(await callFailing(fleet, cases.refusal, call), cases.refusal.code);
        });

        it('receives TIMEOUT, retryable, for a call past the tool timeout', async () => {
          const error = expectToolError(await callFailing(fleet, cases.timeout, call), 'TIMEOUT');
          expect(error.retryable).toBe(true);
        }, 20_000);

        it('receives RATE_LIMITED with retryAfterMs once the per-tool budget is spent', async () => {
          // The budget is shared by every HTTP client of the matrix (one principal, one Redis), so it may already be
          // spent; a stdio process starts with a fresh one. Either way RATE_LIMITED comes within budget + 1 calls.
          const { tool, args } = LIMITED_TOOL[server];
          let limited: ReturnType<typeof expectToolError> | undefined;
          for (let attempt = 0; attempt < 4 && !limited; attempt++) {
            const outcome = await call(tool, args);
            // Below the budget the call runs: a result, or (get_notification of an unknown id) NOT_FOUND.
            if (outcome.isError && errorOf(outcome).code !== 'NOT_FOUND')
              limited = expectToolError(outcome, 'RATE_LIMITED');
          }
          expect(limited?.retryAfterMs).toBeGreaterThan(0);
          expect(limited?.retryable).toBe(true);
        });
      });
    }
  }
}

describe('a 1.x client whose requests alternate between two replicas (no session affinity)', () => {
  it('initializes on one replica and calls tools on the other, results and errors alike', async () => {
    const first = http.get('database') as ServiceProcess;
    const second = await fleet.spawnHttp('database');
    const served: { url: string; method: string }[] = [];
    const client = await connect('sdk-1.x', 'http', {
      url: first.mcpUrl,
      token: fleet.apiKey,
      roundRobin: { urls: [first.mcpUrl, second.mcpUrl], served },
    });
    try {
      await client.listTools();
      const result = await client.callTool(MATRIX.database.success.tool, MATRIX.database.success.args);
      MATRIX.database.success.check(result.structuredContent as Record<string, unknown>);
      const refused = await client.callTool(MATRIX.database.refusal.tool, MATRIX.database.refusal.args);
      expectToolError(refused, 'FORBIDDEN');
    } finally {
      await client.close();
    }
    const replicaOf = (method: string) => served.filter((entry) => entry.method === method).map((entry) => entry.url);
    const [initializedOn] = replicaOf('initialize');
    const calledOn = replicaOf('tools/call');
    expect(initializedOn).toBeDefined();
    expect(calledOn).toHaveLength(2);
    // Both replicas answered tool calls, so at least one ran on a replica that never saw the initialize.
    expect(new Set(calledOn)).toEqual(new Set([first.mcpUrl, second.mcpUrl]));
  });
});
