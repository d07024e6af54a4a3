import { describe, expect, it } from 'vitest';
import {
  type ConformanceCheck,
  formatReport,
  judge,
  NOT_APPLICABLE,
  parseScenarioList,
  runConformance,
} from './run.js';

// Starts PostgreSQL and the built database server, then one conformance CLI process per scenario.
const TIMEOUT_MS = 180_000;

describe('MCP conformance of the database server', () => {
  it(
    'passes every applicable server scenario of @modelcontextprotocol/conformance',
    async () => {
      const report = await runConformance({ log: () => undefined });
      console.log(formatReport(report));

      const failed = report.results
        .filter((result) => result.outcome === 'fail')
        .map((result) => `${result.scenario}: ${result.verdict?.problems.join(' | ')}`);
      expect(failed).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.results.filter((result) => result.outcome === 'pass').length).toBeGreaterThan(0);
      // Every exclusion names a scenario the installed suite really has.
      expect(report.staleExclusions).toEqual([]);
    },
    TIMEOUT_MS,
  );
});

describe('conformance harness', () => {
  const check = (status: ConformanceCheck['status']): ConformanceCheck => ({
    id: status.toLowerCase(),
    name: status,
    description: status,
    status,
  });

  it('passes a scenario only with a success, no failure and a clean CLI exit', () => {
    expect(judge([check('SUCCESS'), check('INFO')], 0).passed).toBe(true);
    expect(judge([check('SUCCESS'), check('FAILURE')], 1).passed).toBe(false);
    expect(judge([check('WARNING')], 0)).toMatchObject({ passed: false, warnings: 1 });
    expect(judge([], 0).passed).toBe(false);
    expect(judge([check('SUCCESS')], 1).passed).toBe(false);
  });

  it('reads scenario names from `conformance list --server`', () => {
    const stdout =
      'Server scenarios (test against a server):\n  - server-initialize [2025-06-18,2025-11-25]\n  - ping\n';
    expect(parseScenarioList(stdout)).toEqual(['server-initialize', 'ping']);
  });

  it('gives a reason for every scenario it does not apply', () => {
    for (const [scenario, reason] of Object.entries(NOT_APPLICABLE)) {
      expect(reason.trim(), scenario).not.toBe('');
    }
  });
});
