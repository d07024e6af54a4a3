import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ConformanceCheck,
  type ConformanceReport,
  EXTENSION,
  exclusionReason,
  formatReport,
  judge,
  notApplicableFor,
  parseScenarioList,
  planRuns,
  runConformance,
  SERVER_NAMES,
  staleKeys,
} from './run.js';

// PostgreSQL, then each built server in turn, with one conformance CLI process per scenario and wire version.
const TIMEOUT_MS = 600_000;

describe('MCP conformance of the three servers', () => {
  let report: ConformanceReport;
  beforeAll(async () => {
    report = await runConformance({ log: () => undefined });
    console.log(formatReport(report));
  }, TIMEOUT_MS);

  for (const server of SERVER_NAMES) {
    it(`${server}: passes every applicable server scenario of @modelcontextprotocol/conformance`, () => {
      const results = report.servers.find((entry) => entry.server === server);
      expect(results, `${server} was not tested`).toBeDefined();
      const failed = (results?.results ?? [])
        .filter((result) => result.outcome === 'fail')
        .map((result) => `${result.scenario} @${result.specVersion}: ${result.verdict?.problems.join(' | ')}`);
      expect(failed).toEqual([]);
      expect(results?.results.filter((result) => result.outcome === 'pass').length).toBeGreaterThan(0);
      expect(results?.serverExit).toBe('exited with 0');
      // Every exclusion names a scenario the installed suite really runs. A suite older than one of the wire
      // versions (0.1.x knows no 2026-07-28) cannot run that version's scenarios, so only a current one is held to it.
      if (report.untestedSpecVersions.length === 0) expect(results?.staleExclusions).toEqual([]);
    });
  }

  it('passes overall', () => {
    expect(report.ok).toBe(true);
  });
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

  it('runs a scenario at each wire version that lists it, and an unlisted one once as an extension', () => {
    const byVersion = new Map([
      ['2025-11-25', ['a', 'b']],
      ['2026-07-28', ['b', 'c']],
    ]);
    expect(planRuns(['a', 'b', 'c', 'x'], byVersion)).toEqual([
      { scenario: 'a', specVersion: '2025-11-25' },
      { scenario: 'b', specVersion: '2025-11-25' },
      { scenario: 'b', specVersion: '2026-07-28' },
      { scenario: 'c', specVersion: '2026-07-28' },
      { scenario: 'x', specVersion: EXTENSION },
    ]);
  });

  it('excludes by name or by name@version, and reports keys that name no run', () => {
    const table = { a: 'all wires', 'b@2026-07-28': 'one wire', 'gone@2025-11-25': 'stale', gone: 'stale too' };
    expect(exclusionReason(table, 'a', '2025-11-25')).toBe('all wires');
    expect(exclusionReason(table, 'b', '2026-07-28')).toBe('one wire');
    expect(exclusionReason(table, 'b', '2025-11-25')).toBeUndefined();
    const runs = planRuns(['a', 'b'], new Map([['2025-11-25', ['a', 'b']]]));
    expect(staleKeys(table, runs)).toEqual(['b@2026-07-28', 'gone@2025-11-25', 'gone']);
  });

  it('gives a reason for every scenario it does not apply, for every server', () => {
    for (const server of SERVER_NAMES) {
      for (const [scenario, reason] of Object.entries(notApplicableFor(server))) {
        expect(reason.trim(), `${server}: ${scenario}`).not.toBe('');
      }
    }
  });
});
