import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type PostgresInstance, runSqlFile, type ServiceProcess, spawnService, startPostgres } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ensureTools, type K8sObject, repoRoot, serverCharts, template } from './tools.js';

const run = promisify(execFile);
const monitoring = join(repoRoot, 'k8s/monitoring');
const fleetRule = parse(readFileSync(join(monitoring, 'prometheusrule.yaml'), 'utf8')) as K8sObject;
const dashboards = readdirSync(join(monitoring, 'dashboards')).map((file) => ({
  file,
  json: JSON.parse(readFileSync(join(monitoring, 'dashboards', file), 'utf8')),
}));

/**
 * Metrics that only the files and notifications servers export. They are not built yet, so these
 * names are taken on trust from their specification; once a server lands, spawn it below like the
 * database server and delete its names here.
 */

// Debian's `prometheus` package provides promtool (apt-get install -y --no-install-recommends prometheus).
async function promtool(args: string[], cwd: string) {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: string; stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') {
      throw new Error('promtool is not installed: apt-get install -y --no-install-recommends prometheus');
    }
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

const ruleExprs = (rule: K8sObject) =>
  (rule.spec.groups as { rules: { alert: string; expr: string }[] }[]).flatMap((group) => group.rules);

/** Every metric name a PromQL expression reads (a name before its selector), histogram suffixes folded. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:mcp|flotilla|process|nodejs)_[a-z0-9_]+)(?=\s*[{[])/g)].map((match) =>
    (match[1] as string).replace(/_(bucket|count|sum)$/, ''),
  );
}

let work: string;

beforeAll(async () => {
  await ensureTools();
  work = mkdtempSync(join(tmpdir(), 'flotilla-promtool-'));
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('alert rules', () => {
  it('k8s/monitoring rules pass promtool check and their unit tests (each alert fires, a healthy fleet fires none)', async () => {
    writeFileSync(join(work, 'flotilla.rules.yaml'), stringify(fleetRule.spec));
    copyFileSync(join(monitoring, 'tests/alerts.test.yaml'), join(work, 'alerts.test.yaml'));
    const checked = await promtool(['check', 'rules', 'flotilla.rules.yaml'], work);
    expect(checked.ok, checked.output).toBe(true);
    const tested = await promtool(['test', 'rules', 'alerts.test.yaml'], work);
    expect(tested.ok, tested.output).toBe(true);
    const alerts = new Set(ruleExprs(fleetRule).map((rule) => rule.alert));
    const testedAlerts = new Set(
      (
        parse(readFileSync(join(monitoring, 'tests/alerts.test.yaml'), 'utf8')).tests as {
          alert_rule_test: { alertname: string; exp_alerts: unknown[] }[];
        }[]
      )
        .flatMap((test) => test.alert_rule_test)
        .filter((test) => test.exp_alerts.length > 0)
        .map((test) => test.alertname),
    );
    expect([...alerts].filter((alert) => !testedAlerts.has(alert))).toEqual([]);
    for (const alert of [
      'FlotillaToolErrorRateHigh',
      'FlotillaToolLatencyHigh',
      'FlotillaAuthFailuresHigh',
      'FlotillaRateLimitSurge',
      'FlotillaDependencyDown',
      'FlotillaCircuitOpen',
    ]) {
      expect(alerts).toContain(alert);
    }
  });

  it.each(serverCharts)(
    '%s renders the same rules as k8s/monitoring, scoped to its release, valid for promtool',
    async (chart) => {
      const objects = await template(chart, { set: ['metrics.prometheusRule.enabled=true'] });
      const rule = objects.find((object) => object.kind === 'PrometheusRule') as K8sObject;
      const file = join(work, `${chart}.rules.yaml`);
      writeFileSync(file, stringify(rule.spec));
      const checked = await promtool(['check', 'rules', file], work);
      expect(checked.ok, checked.output).toBe(true);
      const fleet = new Map(ruleExprs(fleetRule).map((entry) => [entry.alert, entry.expr]));
      const scope = `namespace="flotilla",service="${chart}"`;
      for (const { alert, expr } of ruleExprs(rule)) {
        expect(expr, alert).toContain(scope);
        expect(expr.replaceAll(scope, 'service=~"flotilla-.+"'), alert).toBe(fleet.get(alert));
      }
    },
  );
});

describe('dashboards', () => {
  it('one per server, valid Grafana JSON on the fleet metrics', () => {
    expect(dashboards.map((dashboard) => dashboard.file).sort()).toEqual(
      serverCharts.map((chart) => `${chart}.json`).sort(),
    );
    for (const { file, json } of dashboards) {
      expect(json.uid, file).toBe(file.replace('.json', ''));
      expect(json.panels.length, file).toBeGreaterThan(8);
      const exprs = json.panels.flatMap((panel: { targets: { expr: string }[] }) =>
        panel.targets.map((target) => target.expr),
      );
      const used = new Set(exprs.flatMap(metricNames));
      for (const name of [
        'mcp_tool_calls_total',
        'mcp_server_operation_duration_seconds',
        'mcp_auth_failures_total',
        'mcp_rate_limited_total',
        'mcp_inflight_requests',
        'flotilla_dependency_up',
        'flotilla_circuit_open',
      ]) {
        expect(used, `${file} ${name}`).toContain(name);
      }
      for (const expr of exprs) expect(expr, file).toContain(`service="${file.replace('.json', '')}"`);
    }
  });
});

describe('every metric a rule or a dashboard reads is exported by the servers', () => {
  let postgres: PostgresInstance;
  let workspace: string;
  const servers: ServiceProcess[] = [];
  const main = (service: string) => fileURLToPath(new URL(`../../services/${service}/dist/main.js`, import.meta.url));

  beforeAll(async () => {
    postgres = await startPostgres();
    workspace = await mkdtemp(join(tmpdir(), 'flotilla-metrics-'));
    await mkdir(join(workspace, 'files'));
    // The notifications server needs its schema and a channels file; the superuser is enough to scrape it.
    const channelsFile = join(workspace, 'channels.json');
    await writeFile(
      channelsFile,
      JSON.stringify({
        channels: [
          { name: 'ops', kind: 'webhook', url: 'http://127.0.0.1:9/hooks', secret: `whsec_${'A'.repeat(32)}` },
        ],
      }),
    );
    await runSqlFile(postgres.url, join(repoRoot, 'services/notifications/sql/migration-role.sql'), {
      role: 'flotilla_notifications_migrator',
      password: 'migrator-password',
      database: postgres.database,
    });
    await promisify(execFile)(process.execPath, [main('notifications'), '--migrate'], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_MIGRATION_URL: postgres.urlFor('flotilla_notifications_migrator', 'migrator-password'),
        LOG_LEVEL: 'warn',
      },
    });
    servers.push(
      await spawnService(main('database'), { AUTH_MODE: 'none', DATABASE_URL: postgres.url }),
      await spawnService(main('files'), { AUTH_MODE: 'none', FILES_ROOT: join(workspace, 'files') }),
      await spawnService(main('notifications'), {
        AUTH_MODE: 'none',
        DATABASE_URL: postgres.url,
        NOTIFY_CHANNELS_FILE: channelsFile,
      }),
    );
  }, 90_000);

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await postgres?.destroy();
    await rm(workspace, { recursive: true, force: true });
  });

  it('the database, files and notifications servers export them all', async () => {
    const texts = await Promise.all(servers.map(async (server) => (await fetch(`${server.adminUrl}/metrics`)).text()));
    const text = texts.join('\n');
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) (\w+)$/gm)].map((match) => match[1] as string));
    const used = new Set([
      ...ruleExprs(fleetRule).flatMap((rule) => metricNames(rule.expr)),
      ...dashboards.flatMap(({ json }) =>
        json.panels.flatMap((panel: { targets: { expr: string }[] }) =>
          panel.targets.flatMap((target) => metricNames(target.expr)),
        ),
      ),
    ]);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
    // The alerts select on the `service` label the server itself puts on every series.
    expect(text).toMatch(/flotilla_build_info\{[^}]*service="flotilla-database"/);
    expect(text).toMatch(/flotilla_build_info\{[^}]*service="flotilla-files"/);
    expect(text).toMatch(/flotilla_build_info\{[^}]*service="flotilla-notifications"/);
  });
});
