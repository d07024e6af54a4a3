import { errorOf, type ToolOutcome } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callFailing, expectToolError, invalidArgumentsFor, WALK } from './cases.js';
import { connect, type ListedTool, type MatrixClient, outputSchemaErrors } from './clients.js';
import { type Fleet, SERVER_NAMES, startFleet } from './fleet.js';

// Walks every tool of every server through its error paths (invalid arguments derived from its own inputSchema,
// and the failures inside it) and a succeeding call, with the 1.x SDK client, which validates structuredContent
// against the outputSchema with Ajv and throws when it does not fit; and validates again here with Ajv, configured
// as that client configures it. No error may carry structuredContent that fails the tool's outputSchema (SPEC §2:
// errors carry none), and every result's structuredContent must fit it.

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet();
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

/** Problems with an outcome's structuredContent against the tool's outputSchema; errors must have none at all. */
function structuredProblems(tool: ListedTool, outcome: ToolOutcome): string[] {
  if (outcome.isError) {
    return outcome.structuredContent === undefined
      ? []
      : [
          `error carries structuredContent (${outputSchemaErrors(tool, outcome.structuredContent).join('; ') || 'fits'})`,
        ];
  }
  if (outcome.structuredContent === undefined) return ['result without structuredContent'];
  return outputSchemaErrors(tool, outcome.structuredContent);
}

for (const server of SERVER_NAMES) {
  describe(`every ${server} tool, through the 1.x client`, () => {
    let client: MatrixClient;
    let tools: ListedTool[];
    const toolNamed = (name: string) => tools.find((tool) => tool.name === name) as ListedTool;

    beforeAll(async () => {
      const http = await fleet.spawnHttp(server);
      client = await connect('sdk-1.x', 'http', { url: http.mcpUrl, token: fleet.apiKey });
      tools = await client.listTools();
    }, 30_000);

    afterAll(async () => {
      await client?.close();
    });

    it('has a walk for each listed tool, succeeding and failing', () => {
      const names = tools.map((tool) => tool.name).sort();
      expect([...new Set(WALK[server].succeeding.map((call) => call.tool))].sort()).toEqual(names);
      expect(names.length).toBeGreaterThan(0);
    });

    it('answers arguments that break each inputSchema with INVALID_ARGUMENT and no structuredContent', async () => {
      let checked = 0;
      for (const tool of tools) {
        for (const args of invalidArgumentsFor(tool.inputSchema)) {
          const outcome = await client.callTool(tool.name, args);
          expect(structuredProblems(tool, outcome), `${tool.name} ${JSON.stringify(args)}`).toEqual([]);
          expectToolError(outcome, 'INVALID_ARGUMENT');
          checked++;
        }
      }
      expect(checked).toBeGreaterThanOrEqual(tools.length * 2);
    });

    // Before the failures: some of those (an idempotency key reused with other content) build on these calls.
    it('returns structuredContent that fits the outputSchema from a succeeding call of every tool', async () => {
      const earlier = new Map<string, Record<string, unknown>>();
      for (const call of WALK[server].succeeding) {
        const args = call.args(earlier);
        const outcome = await client.callTool(call.tool, args);
        if (outcome.isError) throw new Error(`${call.tool} ${JSON.stringify(args)}: ${errorOf(outcome).message}`);
        expect(structuredProblems(toolNamed(call.tool), outcome), call.tool).toEqual([]);
        earlier.set(call.tool, outcome.structuredContent as Record<string, unknown>);
      }
    });

    it('answers each failure inside a tool with its code and no structuredContent', async () => {
      for (const call of WALK[server].failing) {
        const outcome = await callFailing(fleet, call, (tool, args) => client.callTool(tool, args));
        expect(structuredProblems(toolNamed(call.tool), outcome), `${call.tool} ${JSON.stringify(call.args)}`).toEqual(
          [],
        );
        const error = expectToolError(outcome, call.code);
        expect(error.message.length).toBeGreaterThan(10);
      }
    }, 60_000);
  });
}
