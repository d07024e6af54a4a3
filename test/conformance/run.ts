#!/usr/bin/env node
/**
 * Runs the official MCP conformance suite (@modelcontextprotocol/conformance, server mode) against the three
 * servers, each started the way it runs in production: `node services/<name>/dist/main.js` on HTTP, with what
 * it needs — the database server on a throwaway PostgreSQL from @flotilla/testkit, the files server on a
 * temporary FILES_ROOT with a few files, the notifications server on its own database on that PostgreSQL
 * (bootstrapped with the shipped role scripts and `--migrate`) with a webhook channel to a local receiver.
 *
 *   node test/conformance/run.ts [--server NAME]... [--include-not-applicable] [--keep-results]
 *
 * Every scenario the suite lists runs once per wire version it applies to (one `conformance server
 * --scenario NAME --spec-version V` each, the suite's own filter; see WIRE_VERSIONS), unless the server's
 * not-applicable table names it with a reason. A scenario passes when at least one of its checks succeeded
 * and none failed; the script exits 1 if any applicable scenario of any server did not pass. Each server
 * runs once, for all its scenarios.
 *
 * Environment:
 *   FLOTILLA_CONFORMANCE_DIR  resolve @modelcontextprotocol/conformance from this directory instead of this
 *                             workspace (e.g. a scratch install in /tmp/conf); for development only.
 *
 * Plain Node (>= 22.6 strips the types; the pinned Node 24 does) and vitest both load this file, so it uses
 * only erasable TypeScript syntax and imports no other local .ts file.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PostgresInstance, runSqlFile, spawnService, startPostgres } from '@flotilla/testkit';
import pg from 'pg';

/**
 * The wire versions each scenario runs at, when the suite tags it for that version. The suite's requirement
 * sets are per revision and a revision fixes the wire: through 2025-11-25 the stateful initialize handshake,
 * 2026-07-28 stateless with per-request `_meta`; a scenario tagged for both runs twice, since passing on one
 * wire says nothing about the other. 2025-06-18 clients speak the 2025-11-25 wire minus additions, which the
 * suite covers cumulatively under 2025-11-25. A suite that does not know a version (0.1.x knows no 2026-07-28)
 * is reported as not testing it. Scenarios tagged for none of these (protocol extensions) run once, untagged.
 */
export const WIRE_VERSIONS = ['2025-11-25', '2026-07-28'] as const;
/** The label of a scenario that belongs to no wire version (the suite tags it `extension`). */
export const EXTENSION = 'extension';

export type ServerName = 'database' | 'files' | 'notifications';
export const SERVER_NAMES: readonly ServerName[] = ['database', 'files', 'notifications'];

/**
 * What applies to none of the three servers, and why. Most server scenarios exercise the fixtures of the
 * suite's reference "everything" server (test_* tools, test:// resources, test_* prompts) or capabilities no
 * Flotilla server declares (logging, completions, sampling, elicitation, subscriptions, sessions, the tasks
 * and skills extensions). A key is a scenario name (every wire), `name@version` (that wire only) or
 * `name:check-id` (one check of a scenario that otherwise applies; passed to the suite as a per-check
 * `--expected-failures` baseline, and stale if that check ever succeeds).
 *
 * A key the installed suite does not run is reported as stale; a new scenario the suite adds is not listed
 * here and therefore runs, and must pass, until it is classified.
 */
export const SHARED_NOT_APPLICABLE: Readonly<Record<string, string>> = {
  // --- utilities no server declares ---
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

  // --- stateful Streamable HTTP: the servers are stateless by design ---
  'server-session-lifecycle':
    'checks the Mcp-Session-Id lifecycle; a stateless server issues none, and the scenario records only an INFO "not applicable"',
  'server-sse-polling':
    'calls fixture tool test_reconnection and needs a session with SSE resumability (event store); pending in the suite',
  // On the 2026-07-28 wire the scenario needs no session (concurrent POST streams), and applies.
  'server-sse-multiple-streams@2025-11-25':
    'needs an Mcp-Session-Id on this wire; without one the scenario records only a WARNING and checks nothing',

  // --- 2026-07-28 stateless lifecycle: the scenario applies, four of its checks need fixture tools ---
  'server-stateless:sep-2575-server-rejects-undeclared-capability':
    'needs the diagnostic fixture tool test_missing_capability',
  'server-stateless:sep-2575-missing-capability-http-400': 'needs the diagnostic fixture tool test_missing_capability',
  'server-stateless:sep-2575-http-server-no-independent-requests-on-stream':
    'needs the fixture tool test_streaming_elicitation (server-initiated elicitation)',
  'server-stateless:sep-2575-server-no-log-without-loglevel':
    'needs the fixture tool test_logging_tool (no `logging` capability)',

  // --- resources: fixture URIs and subscriptions ---
  'resources-read-text': 'reads fixture resource test://static-text',
  'resources-read-binary': 'reads fixture resource test://static-binary',
  'resources-templates-read': 'reads fixture template resource test://template/123/data',
  'resources-subscribe': 'subscribes to fixture resource test://watched-resource (no subscriptions)',
  'resources-unsubscribe': 'unsubscribes from fixture resource test://watched-resource (no subscriptions)',

  // --- prompts: fixture prompts ---
  'prompts-get-simple': 'gets fixture prompt test_simple_prompt',
  'prompts-get-with-args': 'gets fixture prompt test_prompt_with_arguments',
  'prompts-get-embedded-resource': 'gets fixture prompt test_prompt_with_embedded_resource',
  'prompts-get-with-image': 'gets fixture prompt test_prompt_with_image',

  // --- SEP-2243 custom headers: no tool maps a parameter to a header ---
  'http-custom-header-server-validation':
    'needs a tool with x-mcp-header annotations (none has one: every check is "not testable"); pending in the suite',

  // --- SEP-2322 input-required results: the servers never ask the client for input mid-call ---
  'input-required-result-basic-elicitation': 'calls fixture tool test_input_required_result_elicitation',
  'input-required-result-basic-sampling': 'calls fixture tool test_input_required_result_sampling',
  'input-required-result-basic-list-roots': 'calls fixture tool test_input_required_result_list_roots',
  'input-required-result-request-state': 'calls fixture tool test_input_required_result_request_state',
  'input-required-result-multiple-input-requests': 'calls fixture tool test_input_required_result_multiple_inputs',
  'input-required-result-multi-round': 'calls a fixture tool that asks for input over several rounds',
  'input-required-result-missing-input-response':
    'calls a fixture input-required tool without inputResponses; only the wire-schema check can pass',
  'input-required-result-non-tool-request': 'gets fixture prompt test_input_required_result_prompt',
  'input-required-result-result-type': 'calls fixture tool test_input_required_result_elicitation',
  'input-required-result-tampered-state': 'needs a requestState from a fixture input-required tool',
  'input-required-result-capability-check': 'calls fixture tool test_input_required_result_capabilities',
  'input-required-result-validate-input':
    'sends inputResponses to fixture tool test_input_required_result_elicitation; it "passes" only because an unknown tool is -32602',
  'input-required-result-ignore-extra-params':
    'calls fixture tool test_input_required_result_elicitation with extra params; only the wire-schema check can pass',

  // --- protocol extensions the servers do not declare (optional; not scored by the 2026-07-28 requirements) ---
  ...Object.fromEntries(
    [
      'tasks-lifecycle',
      'tasks-capability-negotiation',
      'tasks-wire-fields',
      'tasks-request-state-removal',
      'tasks-mrtr-input',
      'tasks-request-headers',
      'tasks-dispatch-and-envelope',
      'tasks-status-notifications',
      'tasks-required-task-error',
      'tasks-mrtr-composition',
    ].map((name) => [
      name,
      'tasks extension (io.modelcontextprotocol/tasks, SEP-2663): not declared; drives fixture tools (slow_compute, greet, failing_job, …)',
    ]),
  ),
  ...Object.fromEntries(
    ['sep-2640-skills-directory', 'sep-2640-skills-enumeration', 'sep-2640-skills-manifest'].map((name) => [
      name,
      'skills extension (io.modelcontextprotocol/skills, SEP-2640): not declared, so every check is SKIPPED',
    ]),
  ),
};

const NO_PROMPTS = 'no `prompts` capability: prompts/list is Method not found';
const NO_RESOURCES = 'no `resources` capability: resources/list is Method not found';

/**
 * Per-server additions to SHARED_NOT_APPLICABLE (same key format), for the capabilities one server does not
 * declare. The database server declares tools, resources (one per table) and prompts; the files server
 * tools and resources (the workspace's files); the notifications server tools only.
 */
export const SERVER_NOT_APPLICABLE: Readonly<Record<ServerName, Readonly<Record<string, string>>>> = {
  database: {
    'server-stateless:sep-2575-server-sends-prompts-list-changed-on-subscription':
      'mutates the prompt list through the fixture tool test_trigger_prompt_change; the database prompts are fixed',
  },
  files: {
    'prompts-list': NO_PROMPTS,
    'caching:sep-2549-prompts-list-caching-hints': NO_PROMPTS,
  },
  notifications: {
    'prompts-list': NO_PROMPTS,
    'resources-list': NO_RESOURCES,
    'sep-2164-resource-not-found':
      'no `resources` capability: resources/read is Method not found, so there is no resource-not-found error to check',
    'caching:sep-2549-prompts-list-caching-hints': NO_PROMPTS,
    'caching:sep-2549-resources-list-caching-hints': NO_RESOURCES,
    'caching:sep-2549-resources-templates-list-caching-hints':
      'no `resources` capability: resources/templates/list is Method not found',
  },
};

/** One server's not-applicable table: the shared entries plus its own. */
export function notApplicableFor(server: ServerName): Readonly<Record<string, string>> {
  return { ...SHARED_NOT_APPLICABLE, ...SERVER_NOT_APPLICABLE[server] };
}

/** Why `scenario` at wire `version` does not apply, from a table keyed by `name` or `name@version`. */
export function exclusionReason(
  table: Readonly<Record<string, string>>,
  scenario: string,
  version: string,
): string | undefined {
  return table[`${scenario}@${version}`] ?? table[scenario];
}

/** The checks of `scenario` that cannot apply (keys `scenario:check-id`), by check id. */
export function excusedChecks(table: Readonly<Record<string, string>>, scenario: string): Map<string, string> {
  const prefix = `${scenario}:`;
  return new Map(
    Object.entries(table)
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, reason]) => [key.slice(prefix.length), reason]),
  );
}

const CONFORMANCE_PACKAGE = '@modelcontextprotocol/conformance';
const CONFORMANCE_DIR_ENV = 'FLOTILLA_CONFORMANCE_DIR';
const serverMain = (server: ServerName) =>
  fileURLToPath(new URL(`../../services/${server}/dist/main.js`, import.meta.url));
const notificationsSql = (file: string) =>
  fileURLToPath(new URL(`../../services/notifications/sql/${file}`, import.meta.url));
const MIN_NODE_MAJOR = 22;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const LIST_TIMEOUT_MS = 30_000;
const MIGRATE_TIMEOUT_MS = 60_000;
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
  /** One line per excused check that did not succeed, with its reason. */
  excused: string[];
}

export interface ScenarioResult {
  scenario: string;
  /** The wire version it ran at (`--spec-version`), or EXTENSION. */
  specVersion: string;
  outcome: 'pass' | 'fail' | 'not-applicable';
  /** Why the scenario does not apply (the server's not-applicable table). */
  reason?: string;
  /** The suite's verdict; absent for a not-applicable scenario that was not run. */
  verdict?: Verdict;
  durationMs: number;
}

export interface ServerReport {
  server: ServerName;
  serverUrl: string;
  /** How the server ended on SIGTERM, with its output if that was not a clean exit 0. */
  serverExit: string;
  results: ScenarioResult[];
  /** Not-applicable keys the installed suite does not run. */
  staleExclusions: string[];
  durationMs: number;
}

export interface ConformanceReport {
  conformanceVersion: string;
  /** WIRE_VERSIONS the installed suite tests. */
  specVersions: string[];
  /** WIRE_VERSIONS the installed suite does not know. */
  untestedSpecVersions: string[];
  servers: ServerReport[];
  /** Where the suite's checks.json files are, if they were kept. */
  resultsDir?: string;
  durationMs: number;
  /** True when every applicable scenario of every server passed. */
  ok: boolean;
}

export interface RunOptions {
  /** The servers to test; all three by default. */
  servers?: readonly ServerName[];
  /** Also run the not-applicable scenarios and show what they observed (never affects `ok`). */
  includeNotApplicable?: boolean;
  /** Keep the suite's checks.json files; by default they are kept only when something failed. */
  keepResults?: boolean;
  log?: (line: string) => void;
}

/**
 * Judges one scenario from its checks: at least one SUCCESS and no FAILURE, and the CLI agreeing. A FAILURE of
 * a check in `excused` (check id → why it cannot apply) does not count; the CLI was told so through
 * `--expected-failures`. An excused check that succeeded is a stale entry and fails the scenario, as the
 * suite's own baseline does.
 */
export function judge(
  checks: readonly ConformanceCheck[],
  cliExitCode: number | null,
  excused: ReadonlyMap<string, string> = new Map(),
): Verdict {
  const counted = checks.filter((c) => !excused.has(c.id));
  const succeeded = counted.filter((c) => c.status === 'SUCCESS').length;
  const failed = counted.filter((c) => c.status === 'FAILURE').length;
  const warnings = counted.filter((c) => c.status === 'WARNING').length;
  const problems = counted
    .filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')
    .map((c) => `${c.status === 'FAILURE' ? 'FAILED' : 'warning'} ${c.id}: ${c.errorMessage ?? warningText(c)}`);
  const staleExcuses = [...excused.keys()].filter((id) => checks.some((c) => c.id === id && c.status === 'SUCCESS'));
  for (const id of staleExcuses) problems.push(`stale: excused check ${id} succeeded; remove it from the table`);
  const excusedLines = [...excused]
    .filter(([id]) => checks.some((c) => c.id === id && c.status !== 'SUCCESS'))
    .map(([id, reason]) => `${id}: ${reason}`);
  if (succeeded === 0 && failed === 0) problems.push('inconclusive: no check succeeded or failed');
  if (cliExitCode !== 0 && failed === 0) problems.push(`the conformance CLI exited with ${cliExitCode}`);
  return {
    passed: succeeded > 0 && failed === 0 && staleExcuses.length === 0 && cliExitCode === 0,
    succeeded,
    failed,
    warnings,
    problems,
    excused: excusedLines,
  };
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

function runNode(
  args: string[],
  options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: options.cwd,
      env: options.env ?? { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
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

/** One scenario at one wire version. */
export interface PlannedRun {
  scenario: string;
  specVersion: string;
}

/**
 * Which scenario runs at which wire: each in `byVersion` at that version, in the order of `all`; a scenario
 * of `all` in no version's list (an extension) once, as EXTENSION.
 */
export function planRuns(all: readonly string[], byVersion: ReadonlyMap<string, readonly string[]>): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (const scenario of all) {
    const versions = [...byVersion].filter(([, names]) => names.includes(scenario)).map(([version]) => version);
    for (const specVersion of versions.length > 0 ? versions : [EXTENSION]) runs.push({ scenario, specVersion });
  }
  return runs;
}

/** Not-applicable keys that name no planned run. */
export function staleKeys(table: Readonly<Record<string, string>>, runs: readonly PlannedRun[]): string[] {
  return Object.keys(table).filter((key) => {
    const colon = key.indexOf(':');
    const at = key.lastIndexOf('@');
    const [scenario, version] =
      colon > 0 ? [key.slice(0, colon), undefined] : at > 0 ? [key.slice(0, at), key.slice(at + 1)] : [key, undefined];
    return !runs.some((run) => run.scenario === scenario && (version === undefined || run.specVersion === version));
  });
}

async function listScenarios(cli: Cli, cwd: string, specVersion?: string): Promise<string[] | undefined> {
  const args = [cli.bin, 'list', '--server', ...(specVersion ? ['--spec-version', specVersion] : [])];
  const run = await runNode(args, { cwd, timeoutMs: LIST_TIMEOUT_MS });
  // A suite that does not know the version says so and exits 1 ("Unknown spec version").
  if (specVersion && run.code !== 0 && /unknown spec version/i.test(run.stdout + run.stderr)) return undefined;
  const names = parseScenarioList(run.stdout);
  if (run.code !== 0 || (names.length === 0 && !specVersion)) {
    throw new Error(`'${args.slice(1).join(' ')}' failed (exit ${run.code}):\n${tail(run.stdout + run.stderr)}`);
  }
  return names;
}

async function runScenario(
  cli: Cli,
  serverUrl: string,
  run: PlannedRun,
  excused: ReadonlyMap<string, string>,
  resultsDir: string,
): Promise<Verdict> {
  const name = `${run.scenario}@${run.specVersion}`.replace(/[^\w.@-]/g, '_');
  const outputDir = join(resultsDir, name);
  const args = [cli.bin, 'server', '--url', serverUrl, '--scenario', run.scenario, '--output-dir', outputDir];
  if (run.specVersion !== EXTENSION) args.push('--spec-version', run.specVersion);
  if (excused.size > 0) {
    // The suite's own per-check baseline (`scenario:check-id`), so its exit code agrees with the verdict.
    const baseline = join(resultsDir, `${name}.expected-failures.yaml`);
    const entries = [...excused.keys()].map((id) => `  - ${JSON.stringify(`${run.scenario}:${id}`)}`);
    writeFileSync(baseline, `server:\n${entries.join('\n')}\n`);
    args.push('--expected-failures', baseline);
  }
  const exited = await runNode(args, { cwd: resultsDir, timeoutMs: SCENARIO_TIMEOUT_MS });
  // The suite writes <output-dir>/server-<scenario>-<timestamp>/checks.json.
  const checksFile = existsSync(outputDir)
    ? readdirSync(outputDir)
        .map((entry) => join(outputDir, entry, 'checks.json'))
        .find((file) => existsSync(file))
    : undefined;
  if (exited.timedOut || !checksFile) {
    const why = exited.timedOut
      ? `timed out after ${SCENARIO_TIMEOUT_MS} ms`
      : `wrote no checks.json (exit ${exited.code ?? exited.signal})`;
    return {
      passed: false,
      succeeded: 0,
      failed: 0,
      warnings: 0,
      excused: [],
      problems: [`the conformance CLI ${why}:\n${tail(exited.stdout + exited.stderr)}`],
    };
  }
  return judge(JSON.parse(readFileSync(checksFile, 'utf8')) as ConformanceCheck[], exited.code, excused);
}

/** What a server needs besides the shared settings, and how to clean it up afterwards. */
interface Prepared {
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}

/** FILES_ROOT with a few files for the anonymous tenant (`local`, AUTH_ANONYMOUS_TENANT's default). */
function prepareFiles(): Prepared {
  const root = mkdtempSync(join(tmpdir(), 'flotilla-conformance-files-'));
  const tenant = join(root, 'local');
  mkdirSync(join(tenant, 'notes'), { recursive: true });
  writeFileSync(join(tenant, 'README.md'), '# Conformance workspace\n\nA few files for the conformance run.\n');
  writeFileSync(join(tenant, 'notes', 'todo.md'), '- [ ] pass the conformance suite\n');
  writeFileSync(join(tenant, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return {
    env: { FILES_ROOT: root },
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * The notifications server's own database on `cluster`, bootstrapped as an operator does (the shipped role
 * scripts, then `--migrate` as the migration role), and a channels file with one webhook channel pointing
 * at a local receiver that accepts every delivery.
 */
async function prepareNotifications(cluster: PostgresInstance): Promise<Prepared> {
  const database = 'notifications';
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const adminUrl = cluster.urlFor(cluster.adminUser, cluster.adminPassword, database);
  const migrator = { role: 'flotilla_notifications_migrator', password: randomBytes(12).toString('hex') };
  const runtime = { role: 'flotilla_notifications', password: randomBytes(12).toString('hex') };
  await runSqlFile(adminUrl, notificationsSql('migration-role.sql'), { ...migrator, database });
  await runSqlFile(adminUrl, notificationsSql('runtime-role.sql'), {
    ...runtime,
    database,
    migration_role: migrator.role,
    connection_limit: '30',
  });
  const migrated = await runNode([serverMain('notifications'), '--migrate'], {
    cwd: tmpdir(),
    timeoutMs: MIGRATE_TIMEOUT_MS,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_MIGRATION_URL: cluster.urlFor(migrator.role, migrator.password, database),
      LOG_LEVEL: 'warn',
    },
  });
  if (migrated.code !== 0) {
    throw new Error(`notifications --migrate exited with ${migrated.code}:\n${tail(migrated.stderr)}`);
  }

  const receiver: Server = createServer((request, response) => {
    request.resume().once('end', () => response.writeHead(204).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const directory = mkdtempSync(join(tmpdir(), 'flotilla-conformance-channels-'));
  const channelsFile = join(directory, 'channels.json');
  const channels = [
    {
      name: 'conformance-webhook',
      kind: 'webhook',
      url: `http://127.0.0.1:${port}/hooks`,
      secret: `whsec_${randomBytes(24).toString('base64')}`,
      description: 'A local receiver that accepts every delivery.',
    },
  ];
  writeFileSync(channelsFile, `${JSON.stringify({ channels }, null, 2)}\n`, { mode: 0o600 });
  return {
    env: { DATABASE_URL: cluster.urlFor(runtime.role, runtime.password, database), NOTIFY_CHANNELS_FILE: channelsFile },
    cleanup: async () => {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function prepare(server: ServerName, cluster: () => Promise<PostgresInstance>): Promise<Prepared> {
  switch (server) {
    case 'database':
      return { env: { DATABASE_URL: (await cluster()).url }, cleanup: async () => undefined };
    case 'files':
      return prepareFiles();
    case 'notifications':
      return prepareNotifications(await cluster());
  }
}

/** Starts one server, runs every planned scenario against it, and stops it. */
async function testServer(
  server: ServerName,
  cli: Cli,
  runs: readonly PlannedRun[],
  cluster: () => Promise<PostgresInstance>,
  resultsDir: string,
  options: RunOptions,
  log: (line: string) => void,
): Promise<ServerReport> {
  const started = performance.now();
  const table = notApplicableFor(server);
  const main = serverMain(server);
  if (!existsSync(main)) throw new Error(`${main} does not exist: build the ${server} server first (npm run build)`);
  const serverResults = join(resultsDir, server);
  mkdirSync(serverResults, { recursive: true });
  const prepared = await prepare(server, cluster);
  const results: ScenarioResult[] = [];
  let serverUrl = '';
  let serverExit = '';
  try {
    // Nothing from the caller's environment (ALLOWED_ORIGINS, REDIS_URL, OTEL_*, …) changes what is tested.
    const service = await spawnService(
      main,
      { AUTH_MODE: 'none', SHUTDOWN_DELAY_MS: '0', LOG_LEVEL: 'warn', ...prepared.env },
      READY_TIMEOUT_MS,
    );
    serverUrl = service.mcpUrl;
    log(`${server} server at ${serverUrl}`);
    try {
      for (const run of runs) {
        const reason = exclusionReason(table, run.scenario, run.specVersion);
        if (reason !== undefined && !options.includeNotApplicable) {
          results.push({ ...run, outcome: 'not-applicable', reason, durationMs: 0 });
          continue;
        }
        const runStarted = performance.now();
        const verdict = await runScenario(cli, serverUrl, run, excusedChecks(table, run.scenario), serverResults);
        const outcome = reason !== undefined ? 'not-applicable' : verdict.passed ? 'pass' : 'fail';
        results.push({ ...run, outcome, reason, verdict, durationMs: Math.round(performance.now() - runStarted) });
      }
    } finally {
      await service.stop(STOP_TIMEOUT_MS);
      const { code, signal } = await service.exited;
      serverExit = signal ? `killed by ${signal}` : `exited with ${code}`;
      if (serverExit !== 'exited with 0') serverExit += `:\n${tail(service.stderr())}`;
    }
  } finally {
    await prepared.cleanup();
  }
  return {
    server,
    serverUrl,
    serverExit,
    results,
    staleExclusions: staleKeys(table, runs),
    durationMs: Math.round(performance.now() - started),
  };
}

/** Starts each server in turn (with PostgreSQL when one needs it), runs the suite, and tears everything down. */
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
  // One PostgreSQL for the run, started on first use: the database server's and the notifications database.
  let postgres: Promise<PostgresInstance> | undefined;
  const cluster = () => {
    postgres ??= startPostgres();
    return postgres;
  };
  try {
    const all = (await listScenarios(cli, resultsDir)) ?? [];
    const byVersion = new Map<string, string[]>();
    const untestedSpecVersions: string[] = [];
    for (const version of WIRE_VERSIONS) {
      const names = await listScenarios(cli, resultsDir, version);
      if (names) byVersion.set(version, names);
      else untestedSpecVersions.push(version);
    }
    const runs = planRuns(all, byVersion);
    log(
      `${CONFORMANCE_PACKAGE} ${cli.version}: ${all.length} server scenarios, ${runs.length} runs ` +
        `(wire ${[...byVersion.keys()].join(', ')}${untestedSpecVersions.length ? `; does not test ${untestedSpecVersions.join(', ')}` : ''})`,
    );

    const servers: ServerReport[] = [];
    try {
      for (const server of options.servers ?? SERVER_NAMES) {
        servers.push(await testServer(server, cli, runs, cluster, resultsDir, options, log));
      }
    } finally {
      if (postgres) await (await postgres).destroy();
    }

    const results = servers.flatMap((server) => server.results);
    const ok =
      servers.length > 0 &&
      results.every((result) => result.outcome !== 'fail') &&
      servers.every((server) => server.results.some((result) => result.outcome === 'pass'));
    keepResults ||= !ok;
    return {
      conformanceVersion: cli.version,
      specVersions: [...byVersion.keys()],
      untestedSpecVersions,
      servers,
      resultsDir: keepResults ? resultsDir : undefined,
      durationMs: Math.round(performance.now() - started),
      ok,
    };
  } finally {
    if (!keepResults) rmSync(resultsDir, { recursive: true, force: true });
  }
}

const count = (results: readonly ScenarioResult[], outcome: ScenarioResult['outcome']) =>
  results.filter((result) => result.outcome === outcome).length;

/** One server's lines: one per scenario run, its notes, then its count. */
export function formatServer(report: ServerReport, conformanceVersion: string): string {
  const lines: string[] = [`${report.server} server:`];
  const label = (result: ScenarioResult) => `${result.scenario} @${result.specVersion}`;
  const width = Math.max(0, ...report.results.map((result) => label(result).length));
  for (const result of report.results) {
    const name = label(result).padEnd(width);
    const verdict = result.verdict;
    const counts = verdict ? `${verdict.succeeded} ok, ${verdict.failed} failed, ${verdict.warnings} warnings` : '';
    if (result.outcome === 'not-applicable') {
      const first = verdict?.problems[0]?.split('\n')[0];
      const observed = verdict
        ? ` [ran anyway: ${verdict.passed ? 'passed' : `did not pass; ${counts}${first ? `; ${first}` : ''}`}]`
        : '';
      lines.push(`  N/A   ${name}  ${result.reason}${observed}`);
      continue;
    }
    lines.push(`  ${result.outcome === 'pass' ? 'PASS' : 'FAIL'}  ${name}  ${counts} (${result.durationMs} ms)`);
    for (const problem of verdict?.problems ?? []) lines.push(`          ${problem.replaceAll('\n', '\n          ')}`);
    for (const excused of verdict?.excused ?? []) lines.push(`          excused ${excused}`);
  }
  if (report.staleExclusions.length > 0) {
    lines.push(
      `  note: ${CONFORMANCE_PACKAGE} ${conformanceVersion} does not run these not-applicable keys: ` +
        report.staleExclusions.join(', '),
    );
  }

  if (report.serverExit !== 'exited with 0')
    lines.push(`  note: on SIGTERM the ${report.server} server ${report.serverExit}`);
  lines.push(
    `  ${report.server}: ${count(report.results, 'pass')} passed, ${count(report.results, 'fail')} failed, ` +
      `${count(report.results, 'not-applicable')} skipped in ${(report.durationMs / 1000).toFixed(1)} s`,
  );
  return lines.join('\n');
}

/** The human-readable report: each server's lines, then a closing count. */
export function formatReport(report: ConformanceReport): string {
  const lines = report.servers.map((server) => formatServer(server, report.conformanceVersion));
  if (report.untestedSpecVersions.length > 0) {
    lines.push(
      `note: ${CONFORMANCE_PACKAGE} ${report.conformanceVersion} does not test ${report.untestedSpecVersions.join(', ')}`,
    );
  }
  if (report.resultsDir) lines.push(`checks.json files kept in ${report.resultsDir}`);
  const results = report.servers.flatMap((server) => server.results);
  lines.push(
    `conformance ${report.conformanceVersion} (wire ${report.specVersions.join(', ')}) against ` +
      `${report.servers.map((server) => server.server).join(', ')} in ${(report.durationMs / 1000).toFixed(1)} s`,
  );
  lines.push(
    `conformance: ${count(results, 'pass')} passed, ${count(results, 'fail')} failed, ${count(results, 'not-applicable')} skipped`,
  );
  return lines.join('\n');
}

const USAGE =
  'usage: node test/conformance/run.ts [--server database|files|notifications]... [--include-not-applicable] [--keep-results]';

if (import.meta.main) {
  const args = process.argv.slice(2);
  const servers: ServerName[] = [];
  const unknown: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === '--include-not-applicable' || arg === '--keep-results') continue;
    const value = arg === '--server' ? args[++index] : arg.startsWith('--server=') ? arg.slice(9) : undefined;
    if (value !== undefined && (SERVER_NAMES as readonly string[]).includes(value)) servers.push(value as ServerName);
    else unknown.push(value ?? arg);
  }
  if (unknown.length > 0) {
    console.error(`unknown argument(s): ${unknown.join(' ')}\n${USAGE}`);
    process.exit(2);
  }
  try {
    const report = await runConformance({
      servers: servers.length > 0 ? servers : undefined,
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
