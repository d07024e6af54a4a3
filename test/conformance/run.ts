#!/usr/bin/env node
/**
 * Runs the official MCP conformance suite (@modelcontextprotocol/conformance, server mode) against the
 * database server, started the way it runs in production: `node services/database/dist/main.js` on HTTP,
 * backed by a throwaway PostgreSQL from @flotilla/testkit.
 *
 *   node test/conformance/run.ts [--include-not-applicable] [--keep-results]
 *
 * Every scenario the suite lists runs (one `conformance server --scenario NAME` each, the suite's own
 * filter) unless NOT_APPLICABLE below names it with a reason. A scenario passes when at least one of its
 * checks succeeded and none failed; the script exits 1 if any applicable scenario did not pass.
 *
 * Environment:
 *   FLOTILLA_CONFORMANCE_DIR  resolve @modelcontextprotocol/conformance from this directory instead of this
 *                             workspace (e.g. a scratch install in /tmp/conf); for development only.
 *
 * Plain Node (>= 22.6 strips the types; the pinned Node 24 does) and vitest both load this file, so it uses
 * only erasable TypeScript syntax and imports no other local .ts file.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnService, startPostgres } from '@flotilla/testkit';

/**
 * Scenarios that cannot apply to the database server, and why. The database server declares only the
 * `tools` capability and offers its own five read-only tools (list_schemas, list_tables, describe_table,
 * query, explain); it is stateless over Streamable HTTP (no Mcp-Session-Id). Most server scenarios of the
 * suite instead exercise the fixtures of the suite's reference "everything" server (test_* tools, test://
 * resources, test_* prompts), or capabilities this server deliberately does not have.
 *
 * A name listed here that the installed suite no longer has is reported as stale; a new scenario the suite
 * adds is not listed here and therefore runs, and must pass, until it is classified.
 */
export const NOT_APPLICABLE: Readonly<Record<string, string>> = {
  // --- utilities the server does not declare ---
  'logging-set-level': 'no `logging` capability: logging/setLevel is Method not found',
  'completion-complete': 'no `completions` capability; also completes the fixture prompt test_prompt_with_arguments',

  // --- fixture tools of the suite's reference server ---
  'tools-call-simple-text': 'calls fixture tool test_simple_text',
  'tools-call-image': 'calls fixture tool test_image_content',
  'tools-call-audio': 'calls fixture tool test_audio_content',
  'tools-call-embedded-resource': 'calls fixture tool test_embedded_resource',
  'tools-call-mixed-content': 'calls fixture tool test_multiple_content_types',
  'tools-call-with-logging': 'calls fixture tool test_tool_with_logging (needs the logging capability)',
  'tools-call-error': 'calls fixture tool test_error_handling',
  'tools-call-with-progress': 'calls fixture tool test_tool_with_progress',
  'tools-call-sampling': 'calls fixture tool test_sampling (server-initiated sampling/createMessage)',
  'tools-call-elicitation': 'calls fixture tool test_elicitation (server-initiated elicitation/create)',
  'json-schema-2020-12': 'lists fixture tool json_schema_2020_12_tool (and is pending in the suite)',
  'elicitation-sep1034-defaults': 'calls fixture tool test_elicitation_sep1034_defaults (elicitation)',
  'elicitation-sep1330-enums': 'calls fixture tool test_elicitation_sep1330_enums (elicitation)',

  // --- stateful Streamable HTTP: this server is stateless by design ---
  'server-sse-polling':
    'calls fixture tool test_reconnection and needs a session with SSE resumability (event store); pending in the suite',
  'server-sse-multiple-streams':
    'needs an Mcp-Session-Id; without one the scenario records only a WARNING and checks nothing',

  // --- resources: the server declares no `resources` capability ---
  'resources-list': 'no `resources` capability: resources/list is Method not found',
  'resources-read-text': 'reads fixture resource test://static-text',
  'resources-read-binary': 'reads fixture resource test://static-binary',
  'resources-templates-read': 'reads fixture template resource test://template/123/data',
  'resources-subscribe': 'subscribes to fixture resource test://watched-resource (no subscriptions)',
  'resources-unsubscribe': 'unsubscribes from fixture resource test://watched-resource (no subscriptions)',

  // --- prompts: the server declares no `prompts` capability ---
  'prompts-list': 'no `prompts` capability: prompts/list is Method not found',
  'prompts-get-simple': 'gets fixture prompt test_simple_prompt',
  'prompts-get-with-args': 'gets fixture prompt test_prompt_with_arguments',
  'prompts-get-embedded-resource': 'gets fixture prompt test_prompt_with_embedded_resource',
  'prompts-get-with-image': 'gets fixture prompt test_prompt_with_image',
};

const CONFORMANCE_PACKAGE = '@modelcontextprotocol/conformance';
const CONFORMANCE_DIR_ENV = 'FLOTILLA_CONFORMANCE_DIR';
const SERVER_MAIN = fileURLToPath(new URL('../../services/database/dist/main.js', import.meta.url));
const MIN_NODE_MAJOR = 22;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const LIST_TIMEOUT_MS = 30_000;
const SCENARIO_TIMEOUT_MS = 60_000;
const OUTPUT_TAIL_CHARS = 4_000;

export type CheckStatus = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO';

/** The shape of one entry of the suite's checks.json. */
export interface ConformanceCheck {
  id: string;
  name: string;
  description: string;
  status: CheckStatus;
  errorMessage?: string;
  details?: Record<string, unknown>;
}

export interface Verdict {
  passed: boolean;
  succeeded: number;
  failed: number;
  warnings: number;
  /** One line per failed or warning check, or why the run itself was inconclusive. */
  problems: string[];
}

export interface ScenarioResult {
  scenario: string;
  outcome: 'pass' | 'fail' | 'not-applicable';
  /** Why the scenario does not apply (NOT_APPLICABLE). */
  reason?: string;
  /** The suite's verdict; absent for a not-applicable scenario that was not run. */
  verdict?: Verdict;
  durationMs: number;
}

export interface ConformanceReport {
  conformanceVersion: string;
  serverUrl: string;
  /** How the server ended on SIGTERM, with its output if that was not a clean exit 0. */
  serverExit: string;
  results: ScenarioResult[];
  /** NOT_APPLICABLE entries the installed suite does not have. */
  staleExclusions: string[];
  /** Where the suite's checks.json files are, if they were kept. */
  resultsDir?: string;
  durationMs: number;
  /** True when every applicable scenario passed. */
  ok: boolean;
}

export interface RunOptions {
  /** Also run the not-applicable scenarios and show what they observed (never affects `ok`). */
  includeNotApplicable?: boolean;
  /** Keep the suite's checks.json files; by default they are kept only when something failed. */
  keepResults?: boolean;
  log?: (line: string) => void;
}

/** Judges one scenario from its checks: at least one SUCCESS and no FAILURE, and the CLI agreeing. */
export function judge(checks: readonly ConformanceCheck[], cliExitCode: number | null): Verdict {
  const succeeded = checks.filter((c) => c.status === 'SUCCESS').length;
  const failed = checks.filter((c) => c.status === 'FAILURE').length;
  const warnings = checks.filter((c) => c.status === 'WARNING').length;
  const problems = checks
    .filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')
    .map((c) => `${c.status === 'FAILURE' ? 'FAILED' : 'warning'} ${c.id}: ${c.errorMessage ?? warningText(c)}`);
  if (succeeded === 0 && failed === 0) problems.push('inconclusive: no check succeeded or failed');
  if (cliExitCode !== 0 && failed === 0) problems.push(`the conformance CLI exited with ${cliExitCode}`);
  return { passed: succeeded > 0 && failed === 0 && cliExitCode === 0, succeeded, failed, warnings, problems };
}

function warningText(check: ConformanceCheck): string {
  const message = check.details?.message;
  return typeof message === 'string' ? message : check.description;
}

/** Scenario names from `conformance list --server`. */
export function parseScenarioList(stdout: string): string[] {
  return [...stdout.matchAll(/^\s+-\s+(\S+)/gm)].map((match) => match[1] as string);
}

interface Cli {
  bin: string;
  version: string;
}

/** The conformance CLI from this workspace's node_modules, or from FLOTILLA_CONFORMANCE_DIR. */
export function resolveConformanceCli(env: NodeJS.ProcessEnv = process.env): Cli {
  const from = env[CONFORMANCE_DIR_ENV];
  const require = createRequire(from ? join(from, 'noop.js') : import.meta.url);
  // Walk the lookup paths rather than require.resolve('…/package.json'), which an "exports" map may refuse.
  const manifestPath = (require.resolve.paths(CONFORMANCE_PACKAGE) ?? [])
    .map((nodeModules) => join(nodeModules, CONFORMANCE_PACKAGE, 'package.json'))
    .find((file) => existsSync(file));
  if (!manifestPath) {
    throw new Error(
      `${CONFORMANCE_PACKAGE} is not installed${from ? ` under ${CONFORMANCE_DIR_ENV}=${from}` : ''}: ` +
        'add it as a devDependency of @flotilla/e2e, or point FLOTILLA_CONFORMANCE_DIR at a directory that has it.',
    );
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    version: string;
    bin?: string | Record<string, string>;
  };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.conformance;
  if (!bin) throw new Error(`${manifestPath} declares no 'conformance' bin`);
  return { bin: join(manifestPath, '..', bin), version: manifest.version };
}

interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runNode(args: string[], options: { cwd: string; timeoutMs: number }): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function tail(text: string): string {
  return text.length > OUTPUT_TAIL_CHARS ? `…${text.slice(-OUTPUT_TAIL_CHARS)}` : text;
}

async function listScenarios(cli: Cli, cwd: string): Promise<string[]> {
  const run = await runNode([cli.bin, 'list', '--server'], { cwd, timeoutMs: LIST_TIMEOUT_MS });
  const names = parseScenarioList(run.stdout);
  if (run.code !== 0 || names.length === 0) {
    throw new Error(`'conformance list --server' failed (exit ${run.code}):\n${tail(run.stdout + run.stderr)}`);
  }
  return names;
}

async function runScenario(cli: Cli, serverUrl: string, scenario: string, resultsDir: string): Promise<Verdict> {
  const outputDir = join(resultsDir, scenario.replace(/[^\w.-]/g, '_'));
  const run = await runNode(
    [cli.bin, 'server', '--url', serverUrl, '--scenario', scenario, '--output-dir', outputDir],
    {
      cwd: resultsDir,
      timeoutMs: SCENARIO_TIMEOUT_MS,
    },
  );
  // The suite writes <output-dir>/server-<scenario>-<timestamp>/checks.json.
  const checksFile = existsSync(outputDir)
    ? readdirSync(outputDir)
        .map((entry) => join(outputDir, entry, 'checks.json'))
        .find((file) => existsSync(file))
    : undefined;
  if (run.timedOut || !checksFile) {
    const why = run.timedOut
      ? `timed out after ${SCENARIO_TIMEOUT_MS} ms`
      : `wrote no checks.json (exit ${run.code ?? run.signal})`;
    return {
      passed: false,
      succeeded: 0,
      failed: 0,
      warnings: 0,
      problems: [`the conformance CLI ${why}:\n${tail(run.stdout + run.stderr)}`],
    };
  }
  return judge(JSON.parse(readFileSync(checksFile, 'utf8')) as ConformanceCheck[], run.code);
}

/** Starts PostgreSQL and the database server, runs the suite, and tears both down. */
export async function runConformance(options: RunOptions = {}): Promise<ConformanceReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const started = performance.now();
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  if (nodeMajor < MIN_NODE_MAJOR) {
    throw new Error(
      `Node ${process.versions.node} is too old: the conformance suite needs Node >= ${MIN_NODE_MAJOR}. ` +
        'Use the pinned one: export PATH=<repo>/node_modules/.bin:$PATH',
    );
  }
  const cli = resolveConformanceCli();
  const resultsDir = mkdtempSync(join(tmpdir(), 'flotilla-conformance-'));
  let keepResults = options.keepResults ?? false;
  try {
    const scenarios = await listScenarios(cli, resultsDir);
    const staleExclusions = Object.keys(NOT_APPLICABLE).filter((name) => !scenarios.includes(name));
    log(`${CONFORMANCE_PACKAGE} ${cli.version}: ${scenarios.length} server scenarios`);

    const postgres = await startPostgres();
    const results: ScenarioResult[] = [];
    let serverUrl = '';
    let serverExit = '';
    try {
      if (!existsSync(SERVER_MAIN)) {
        throw new Error(`${SERVER_MAIN} does not exist: build the database server first (npm run build)`);
      }
      // Nothing from the caller's environment (ALLOWED_ORIGINS, REDIS_URL, OTEL_*, …) changes what is tested.
      const server = await spawnService(
        SERVER_MAIN,
        { AUTH_MODE: 'none', DATABASE_URL: postgres.url, SHUTDOWN_DELAY_MS: '0', LOG_LEVEL: 'warn' },
        READY_TIMEOUT_MS,
      );
      serverUrl = server.mcpUrl;
      log(`database server at ${serverUrl}`);
      try {
        for (const scenario of scenarios) {
          const reason = NOT_APPLICABLE[scenario];
          if (reason !== undefined && !options.includeNotApplicable) {
            results.push({ scenario, outcome: 'not-applicable', reason, durationMs: 0 });
            continue;
          }
          const scenarioStarted = performance.now();
          const verdict = await runScenario(cli, serverUrl, scenario, resultsDir);
          const outcome = reason !== undefined ? 'not-applicable' : verdict.passed ? 'pass' : 'fail';
          results.push({
            scenario,
            outcome,
            reason,
            verdict,
            durationMs: Math.round(performance.now() - scenarioStarted),
          });
        }
      } finally {
        await server.stop(STOP_TIMEOUT_MS);
        const { code, signal } = await server.exited;
        serverExit = signal ? `killed by ${signal}` : `exited with ${code}`;
        if (serverExit !== 'exited with 0') serverExit += `:\n${tail(server.stderr())}`;
      }
    } finally {
      await postgres.destroy();
    }

    const ok =
      results.every((result) => result.outcome !== 'fail') && results.some((result) => result.outcome === 'pass');
    keepResults ||= !ok;
    return {
      conformanceVersion: cli.version,
      serverUrl,
      serverExit,
      results,
      staleExclusions,
      resultsDir: keepResults ? resultsDir : undefined,
      durationMs: Math.round(performance.now() - started),
      ok,
    };
  } finally {
    if (!keepResults) rmSync(resultsDir, { recursive: true, force: true });
  }
}

/** The human-readable report: one line per scenario, then a closing count. */
export function formatReport(report: ConformanceReport): string {
  const lines: string[] = [];
  const width = Math.max(...report.results.map((r) => r.scenario.length));
  for (const result of report.results) {
    const name = result.scenario.padEnd(width);
    const verdict = result.verdict;
    const counts = verdict ? `${verdict.succeeded} ok, ${verdict.failed} failed, ${verdict.warnings} warnings` : '';
    if (result.outcome === 'not-applicable') {
      const first = verdict?.problems[0]?.split('\n')[0];
      const observed = verdict
        ? ` [ran anyway: ${verdict.passed ? 'passed' : `did not pass; ${counts}${first ? `; ${first}` : ''}`}]`
        : '';
      lines.push(`N/A   ${name}  ${result.reason}${observed}`);
      continue;
    }
    lines.push(`${result.outcome === 'pass' ? 'PASS' : 'FAIL'}  ${name}  ${counts} (${result.durationMs} ms)`);
    for (const problem of verdict?.problems ?? []) lines.push(`        ${problem.replaceAll('\n', '\n        ')}`);
  }
  for (const name of report.staleExclusions) {
    lines.push(
      `note: NOT_APPLICABLE lists '${name}', which ${CONFORMANCE_PACKAGE} ${report.conformanceVersion} does not have`,
    );
  }
  if (report.serverExit !== 'exited with 0') lines.push(`note: on SIGTERM the database server ${report.serverExit}`);
  if (report.resultsDir) lines.push(`checks.json files kept in ${report.resultsDir}`);
  const count = (outcome: ScenarioResult['outcome']) => report.results.filter((r) => r.outcome === outcome).length;
  lines.push(`conformance ${report.conformanceVersion} in ${(report.durationMs / 1000).toFixed(1)} s`);
  lines.push(`conformance: ${count('pass')} passed, ${count('fail')} failed, ${count('not-applicable')} skipped`);
  return lines.join('\n');
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const unknown = args.filter((arg) => arg !== '--include-not-applicable' && arg !== '--keep-results');
  if (unknown.length > 0) {
    console.error(
      `unknown argument(s): ${unknown.join(' ')}\nusage: node test/conformance/run.ts [--include-not-applicable] [--keep-results]`,
    );
    process.exit(2);
  }
  try {
    const report = await runConformance({
      includeNotApplicable: args.includes('--include-not-applicable'),
      keepResults: args.includes('--keep-results'),
    });
    console.log(formatReport(report));
    process.exitCode = report.ok ? 0 : 1;
  } catch (error) {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exitCode = 1;
  }
}
