import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  chartsDir,
  ensureTools,
  type K8sObject,
  policyViolations,
  repoRoot,
  serverCharts,
  template,
  templateRaw,
  validateObject,
} from './tools.js';

const run = promisify(execFile);
const ci = (chart: string, file: string) => join(chartsDir, chart, 'ci', file);
const byKind = (objects: K8sObject[], kind: string) => objects.filter((object) => object.kind === kind);
const scalerOf = (objects: K8sObject[], kind: string, deployment: string) =>
  objects.find((object) => object.kind === kind && object.spec.scaleTargetRef.name === deployment) as K8sObject;
const adapterFile = join(chartsDir, 'flotilla-common/files/prometheus-adapter-values.yaml');
const adapter = parse(readFileSync(adapterFile, 'utf8'));
const operations = readFileSync(join(repoRoot, 'docs/operations.md'), 'utf8');

interface Trigger {
  type: string;
  name?: string;
  metricType?: string;
  metadata: Record<string, string>;
  authenticationRef?: { name: string };
}
const prometheusTriggers = (scaledObject: K8sObject) =>
  (scaledObject.spec.triggers as Trigger[]).filter((trigger) => trigger.type === 'prometheus');

/** Every object valid for Kubernetes 1.33 (the ScaledObject for KEDA's CRD), and the deployment policy met. */
function expectDeployable(objects: K8sObject[], what: string) {
  for (const object of objects) validateObject(object);
  expect(policyViolations(objects), what).toEqual([]);
}

/** A PromQL regex matcher as Prometheus applies it: RE2, anchored at both ends. */
const promRegex = (query: string, label: string) =>
  new RegExp(`^(?:${new RegExp(`${label}=~"([^"]+)"`).exec(query)?.[1]})$`);

let work: string;

beforeAll(async () => {
  await ensureTools();
  work = mkdtempSync(join(tmpdir(), 'flotilla-autoscaling-'));
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('defaults', () => {
  it.each(serverCharts)('%s scales on CPU alone through its HPA, with no ScaledObject', async (chart) => {
    const objects = await template(chart);
    const hpa = scalerOf(objects, 'HorizontalPodAutoscaler', chart);
    expect(hpa.spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
    ]);
    expect(byKind(objects, 'ScaledObject')).toEqual([]);
    expect(byKind(objects, 'Deployment')[0]?.spec.replicas).toBeUndefined();
  });
});

describe('the HPA on calls in flight (prometheus-adapter)', () => {
  it('scales on mcp_inflight_requests per pod instead of CPU when the CPU target is null', async () => {
    const objects = await template('flotilla-files', { valuesFiles: [ci('flotilla-files', 'inflight-values.yaml')] });
    expectDeployable(objects, 'files inflight');
    const hpa = scalerOf(objects, 'HorizontalPodAutoscaler', 'flotilla-files');
    expect(hpa.spec.metrics).toEqual([
      {
        type: 'Pods',
        pods: { metric: { name: 'mcp_inflight_requests' }, target: { type: 'AverageValue', averageValue: '16' } },
      },
    ]);
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(300);
  });

  it('scales on both alongside, with the target configurable', async () => {
    const objects = await template('flotilla-database', {
      set: ['autoscaling.inflightRequests.enabled=true', 'autoscaling.inflightRequests.averageValue=12'],
    });
    const metrics = scalerOf(objects, 'HorizontalPodAutoscaler', 'flotilla-database').spec.metrics;
    expect(metrics.map((metric: { type: string }) => metric.type)).toEqual(['Resource', 'Pods']);
    expect(metrics[1].pods.target.averageValue).toBe('12');
  });

  it.each(serverCharts)('%s refuses an HPA left with no metric at all', async (chart) => {
    const result = await templateRaw(chart, { set: ['autoscaling.targetCPUUtilizationPercentage=null'] });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain('autoscaling has no metric');
  });
});

describe('the notifications worker on its queue, through the HPA (prometheus-adapter)', () => {
  it('adds the queue metrics as External metrics, depth per worker pod and oldest age as a value', async () => {
    const objects = await template('flotilla-notifications', {
      valuesFiles: [ci('flotilla-notifications', 'worker-queue-values.yaml')],
    });
    expectDeployable(objects, 'worker queue');
    const selector = { matchLabels: { service: 'flotilla-notifications' } };
    const worker = scalerOf(objects, 'HorizontalPodAutoscaler', 'flotilla-notifications-worker');
    expect(worker.spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
      {
        type: 'External',
        external: {
          metric: { name: 'flotilla_notifications_queue_depth', selector },
          target: { type: 'AverageValue', averageValue: '250' },
        },
      },
      {
        type: 'External',
        external: {
          metric: { name: 'flotilla_notifications_oldest_pending_seconds', selector },
          target: { type: 'Value', value: '120' },
        },
      },
    ]);
    expect(worker.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(600);
    // The API keeps its own HPA, on the calls in flight it serves; queue metrics are the worker's only.
    const api = scalerOf(objects, 'HorizontalPodAutoscaler', 'flotilla-notifications');
    expect(api.spec.metrics.map((metric: { type: string }) => metric.type)).toEqual(['Resource', 'Pods']);
  });

  it('never puts the queue metrics on a worker that is not asked to, nor in-flight calls on the worker', async () => {
    const objects = await template('flotilla-notifications', {
      set: ['worker.enabled=true', 'worker.autoscaling.inflightRequests.enabled=true'],
    });
    const worker = scalerOf(objects, 'HorizontalPodAutoscaler', 'flotilla-notifications-worker');
    expect(worker.spec.metrics.map((metric: { type: string }) => metric.type)).toEqual(['Resource']);
  });

  it('scales the worker on the queue alone when its CPU target is null', async () => {
    const objects = await template('flotilla-notifications', {
      set: [
        'worker.enabled=true',
        'worker.autoscaling.targetCPUUtilizationPercentage=null',
        'worker.autoscaling.oldestPending.enabled=true',
      ],
    });
    const worker = scalerOf(objects, 'HorizontalPodAutoscaler', 'flotilla-notifications-worker');
    expect(
      worker.spec.metrics.map((metric: { external: { metric: { name: string } } }) => metric.external.metric.name),
    ).toEqual(['flotilla_notifications_oldest_pending_seconds']);
    const refused = await templateRaw('flotilla-notifications', {
      set: ['worker.enabled=true', 'worker.autoscaling.targetCPUUtilizationPercentage=null'],
    });
    expect(refused.stderr).toContain('worker.autoscaling has no metric');
  });
});

describe('KEDA ScaledObjects', () => {
  it.each(serverCharts)('%s: a prometheus trigger on its own pods’ calls in flight, plus CPU', async (chart) => {
    const objects = await template(chart, { set: ['autoscaling.enabled=false', 'keda.enabled=true'] });
    expectDeployable(objects, chart);
    expect(byKind(objects, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(byKind(objects, 'Deployment')[0]?.spec.replicas).toBeUndefined();
    const scaled = scalerOf(objects, 'ScaledObject', chart);
    expect(scaled.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: chart });
    expect(scaled.spec).toMatchObject({ minReplicaCount: 2, maxReplicaCount: 10, pollingInterval: 15 });
    expect(scaled.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds).toBe(300);
    expect(scaled.spec.triggers[0]).toEqual({ type: 'cpu', metricType: 'Utilization', metadata: { value: '70' } });
    const [inflight, ...others] = prometheusTriggers(scaled);
    expect(others).toEqual([]);
    expect(inflight).toMatchObject({
      name: 'inflight-requests',
      metricType: 'AverageValue',
      metadata: {
        serverAddress: 'http://prometheus-operated.monitoring.svc:9090',
        threshold: '32',
        ignoreNullValues: 'false',
      },
    });
    const query = inflight?.metadata.query as string;
    // Summed over this Deployment's pods; KEDA's AverageValue divides by the replica count.
    expect(query).toMatch(/^sum\(avg_over_time\(mcp_inflight_requests\{namespace="flotilla",pod=~"[^"]+"\}\[2m\]\)\)$/);
    const pods = promRegex(query, 'pod');
    expect(pods.test(`${chart}-7d9f8b6c5d-x2x4q`)).toBe(true);
    expect(pods.test(`${chart}-worker-7d9f8b6c5d-x2x4q`)).toBe(false);
    expect(pods.test(`${chart}-test`)).toBe(false);
  });

  it('the database ci values: thresholds, polling and a TriggerAuthentication for Prometheus', async () => {
    const objects = await template('flotilla-database', { valuesFiles: [ci('flotilla-database', 'keda-values.yaml')] });
    expectDeployable(objects, 'database keda');
    const scaled = scalerOf(objects, 'ScaledObject', 'flotilla-database');
    expect(scaled.spec).toMatchObject({ minReplicaCount: 3, maxReplicaCount: 20, pollingInterval: 10 });
    expect(scaled.spec.triggers[0].metadata.value).toBe('80');
    expect(prometheusTriggers(scaled)[0]).toMatchObject({
      metadata: { serverAddress: 'https://prometheus.monitoring.svc:9091', threshold: '24', authModes: 'bearer' },
      authenticationRef: { name: 'flotilla-prometheus' },
    });
    const refused = await templateRaw('flotilla-database', {
      valuesFiles: [ci('flotilla-database', 'keda-values.yaml')],
      set: ['keda.prometheus.authenticationRef='],
    });
    expect(refused.stderr).toContain('authModes and authenticationRef go together');
  });

  it('the notifications worker: triggers on queue depth (per worker) and oldest pending age (a value)', async () => {
    const objects = await template('flotilla-notifications', {
      valuesFiles: [ci('flotilla-notifications', 'keda-values.yaml')],
    });
    expectDeployable(objects, 'notifications keda');
    expect(byKind(objects, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(
      byKind(objects, 'ScaledObject')
        .map((object) => object.metadata.name)
        .sort(),
    ).toEqual(['flotilla-notifications', 'flotilla-notifications-worker']);
    const worker = scalerOf(objects, 'ScaledObject', 'flotilla-notifications-worker');
    expect(worker.spec.scaleTargetRef.kind).toBe('Deployment');
    expect(worker.spec).toMatchObject({ minReplicaCount: 1, maxReplicaCount: 10 });
    // No cpu trigger (its target is null), no in-flight trigger (the worker serves no MCP).
    expect(worker.spec.triggers.map((trigger: Trigger) => trigger.type)).toEqual(['prometheus', 'prometheus']);
    const [depth, oldest] = prometheusTriggers(worker);
    // The queue gauges are the same in every notifications pod: max() takes one copy, a sum would
    // grow with the replica count.
    expect(depth).toMatchObject({
      name: 'queue-depth',
      metricType: 'AverageValue',
      metadata: {
        query: 'max(flotilla_notifications_queue_depth{namespace="flotilla",service="flotilla-notifications"})',
        threshold: '200',
        serverAddress: 'http://prometheus-operated.monitoring.svc:9090',
      },
    });
    expect(oldest).toMatchObject({
      name: 'oldest-pending',
      metricType: 'Value',
      metadata: {
        query:
          'max(flotilla_notifications_oldest_pending_seconds{namespace="flotilla",service="flotilla-notifications"})',
        threshold: '90',
      },
    });
    const api = scalerOf(objects, 'ScaledObject', 'flotilla-notifications');
    const apiQuery = prometheusTriggers(api)[0]?.metadata.query as string;
    expect(promRegex(apiQuery, 'pod').test('flotilla-notifications-worker-7d9f8b6c5d-x2x4q')).toBe(false);
    expect(promRegex(apiQuery, 'pod').test('flotilla-notifications-7d9f8b6c5d-x2x4q')).toBe(true);
  });

  it('lets the API and the worker choose apart: API on KEDA, worker on its HPA', async () => {
    const objects = await template('flotilla-notifications', {
      set: [
        'autoscaling.enabled=false',
        'keda.enabled=true',
        'worker.enabled=true',
        'worker.autoscaling.queueDepth.enabled=true',
      ],
    });
    expectDeployable(objects, 'mixed');
    expect(scalerOf(objects, 'ScaledObject', 'flotilla-notifications')).toBeDefined();
    expect(scalerOf(objects, 'HorizontalPodAutoscaler', 'flotilla-notifications-worker')).toBeDefined();
    expect(scalerOf(objects, 'ScaledObject', 'flotilla-notifications-worker')).toBeUndefined();
  });

  it.each(serverCharts)('%s refuses KEDA and the HPA on the same Deployment', async (chart) => {
    const result = await templateRaw(chart, { set: ['keda.enabled=true'] });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain(`keda.enabled and autoscaling.enabled both scale Deployment ${chart}`);
  });

  it('refuses KEDA and the HPA on the worker, and a worker ScaledObject without a trigger', async () => {
    const both = await templateRaw('flotilla-notifications', {
      set: ['worker.enabled=true', 'worker.keda.enabled=true'],
    });
    expect(both.ok).toBe(false);
    expect(both.stderr).toContain(
      'worker.keda.enabled and worker.autoscaling.enabled both scale Deployment flotilla-notifications-worker',
    );
    const none = await templateRaw('flotilla-notifications', {
      set: [
        'worker.enabled=true',
        'worker.autoscaling.enabled=false',
        'worker.keda.enabled=true',
        'worker.keda.targetCPUUtilizationPercentage=null',
        'worker.keda.queueDepth.enabled=false',
        'worker.keda.oldestPending.enabled=false',
      ],
    });
    expect(none.ok).toBe(false);
    expect(none.stderr).toContain('worker.keda has no trigger');
  });

  it('makes a files volume ReadWriteMany when KEDA may run more than one replica', async () => {
    const objects = await template('flotilla-files', {
      set: ['replicaCount=1', 'autoscaling.enabled=false', 'keda.enabled=true', 'keda.minReplicas=1'],
    });
    expect(byKind(objects, 'PersistentVolumeClaim')[0]?.spec.accessModes).toEqual(['ReadWriteMany']);
  });

  it.each([
    ['a minimum of zero replicas', ['keda.minReplicas=0']],
    ['a Prometheus address without a scheme', ['keda.prometheus.serverAddress=prometheus:9090']],
    ['a threshold that is not a number', ['keda.inflightRequests.averageValue=lots']],
    ['an unknown KEDA key', ['keda.cooldown=30']],
    ['an auth mode KEDA does not have', ['keda.prometheus.authModes=oauth2']],
    ['a CPU target above 100 %', ['keda.targetCPUUtilizationPercentage=150']],
    ['a zero queue-depth target on the worker HPA', ['worker.autoscaling.queueDepth.averageValue=0']],
    ['an unknown worker KEDA key', ['worker.keda.prometheus.serverAddress=http://p:9090']],
  ])('refuses %s', async (_what, set) => {
    const result = await templateRaw('flotilla-notifications', { set });
    expect(result.ok, result.stdout.slice(0, 200)).toBe(false);
    expect(result.stderr).toMatch(/values don't meet the specifications/);
  });
});

describe('the umbrella chart', () => {
  it('passes the autoscaling values through to each server', async () => {
    const objects = await template('flotilla', {
      set: [
        'flotilla-database.autoscaling.inflightRequests.enabled=true',
        'flotilla-files.autoscaling.enabled=false',
        'flotilla-files.keda.enabled=true',
        'flotilla-notifications.worker.enabled=true',
        'flotilla-notifications.worker.autoscaling.enabled=false',
        'flotilla-notifications.worker.keda.enabled=true',
      ],
    });
    expectDeployable(objects, 'umbrella');
    expect(
      byKind(objects, 'ScaledObject')
        .map((object) => object.spec.scaleTargetRef.name)
        .sort(),
    ).toEqual(['flotilla-files', 'flotilla-notifications-worker']);
    const database = scalerOf(objects, 'HorizontalPodAutoscaler', 'flotilla-database');
    expect(database.spec.metrics.map((metric: { type: string }) => metric.type)).toEqual(['Resource', 'Pods']);
  });
});

describe('the prometheus-adapter rules (charts/flotilla-common/files/prometheus-adapter-values.yaml)', () => {
  interface Rule {
    seriesQuery: string;
    resources: { overrides: Record<string, { resource: string }> };
    name: { matches: string; as: string };
    metricsQuery: string;
  }
  const custom = adapter.rules.custom as Rule[];
  const external = adapter.rules.external as Rule[];

  it('has the prometheus-adapter chart’s shape: prometheus.url/port, rules.custom and rules.external', () => {
    expect(adapter.prometheus.url).toMatch(/^https?:\/\//);
    expect(Number.isInteger(adapter.prometheus.port)).toBe(true);
    expect(adapter.rules.default).toBe(false);
    for (const rule of [...custom, ...external]) {
      expect(Object.keys(rule).sort()).toEqual(['metricsQuery', 'name', 'resources', 'seriesQuery']);
      expect(rule.metricsQuery).toContain('<<.Series>>{<<.LabelMatchers>>}');
      expect(new RegExp(rule.name.matches).test(rule.name.as)).toBe(true);
      expect(rule.seriesQuery.startsWith(`${rule.name.as}{`)).toBe(true);
    }
  });

  it('serves exactly the metrics the charts’ HPAs ask for, under the labels the ServiceMonitor produces', async () => {
    const objects = [
      ...(await template('flotilla-notifications', {
        valuesFiles: [ci('flotilla-notifications', 'worker-queue-values.yaml')],
      })),
    ];
    const metrics = byKind(objects, 'HorizontalPodAutoscaler').flatMap((hpa) => hpa.spec.metrics);
    const pods = metrics.filter((metric) => metric.type === 'Pods').map((metric) => metric.pods.metric.name);
    const externals = metrics
      .filter((metric) => metric.type === 'External')
      .map((metric) => metric.external.metric.name);
    expect(custom.map((rule) => rule.name.as).sort()).toEqual([...new Set(pods)].sort());
    expect(external.map((rule) => rule.name.as).sort()).toEqual([...new Set(externals)].sort());
    for (const rule of custom) {
      // A pods metric maps both labels to their resources, and is averaged per pod (GroupBy).
      expect(rule.resources.overrides).toEqual({ namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
      expect(rule.metricsQuery).toMatch(/^sum by \(<<\.GroupBy>>\)/);
    }
    for (const rule of external) {
      // Namespaced external metrics, one series per namespace however many pods export the gauge.
      expect(rule.resources.overrides).toEqual({ namespace: { resource: 'namespace' } });
      expect(rule.metricsQuery).toMatch(/^max by \(namespace\)/);
      expect(rule.metricsQuery).not.toMatch(/sum|avg/);
    }
    // The HPAs' selector is a label every series carries (the server's own `service`).
    for (const metric of metrics.filter((entry) => entry.type === 'External')) {
      expect(Object.keys(metric.external.metric.selector.matchLabels)).toEqual(['service']);
    }
  });

  it('names metrics the servers really export', () => {
    const sources = ['libs/telemetry/src/metrics.ts', 'services/notifications/src/metrics.ts']
      .map((file) => readFileSync(join(repoRoot, file), 'utf8'))
      .join('\n');
    for (const rule of [...custom, ...external]) expect(sources).toContain(`name: '${rule.name.as}'`);
  });

  it('is what docs/operations.md tells operators to install', () => {
    expect(operations).toContain('charts/flotilla-common/files/prometheus-adapter-values.yaml');
    for (const rule of [...custom, ...external]) expect(operations).toContain(rule.name.as);
  });

  it('and every KEDA query: valid PromQL that selects the right series and counts the queue once', async () => {
    // The adapter's templates as it expands them for one HPA in namespace flotilla.
    const expand = (rule: Rule, matchers: string, groupBy: string) =>
      rule.metricsQuery
        .replaceAll('<<.Series>>', rule.name.as)
        .replaceAll('<<.LabelMatchers>>', matchers)
        .replaceAll('<<.GroupBy>>', groupBy);
    const serverPods = 'flotilla-notifications-7d9f8b6c5d-aaaaa|flotilla-notifications-7d9f8b6c5d-bbbbb';
    const adapterInflight = expand(custom[0] as Rule, `namespace="flotilla",pod=~"${serverPods}"`, 'pod');
    const adapterQueue = external.map((rule) =>
      expand(rule, 'namespace="flotilla",service="flotilla-notifications"', 'namespace'),
    );
    // The KEDA queries, as the ci values render them.
    const queries = [
      ...(await template('flotilla-database', { valuesFiles: [ci('flotilla-database', 'keda-values.yaml')] })),
      ...(await template('flotilla-notifications', {
        valuesFiles: [ci('flotilla-notifications', 'keda-values.yaml')],
      })),
    ]
      .filter((object) => object.kind === 'ScaledObject')
      .flatMap((scaled) =>
        prometheusTriggers(scaled).map((trigger) => ({
          name: `${scaled.metadata.name}:${trigger.name}`,
          expr: trigger.metadata.query as string,
        })),
      );
    expect(queries.map((query) => query.name).sort()).toEqual([
      'flotilla-database:inflight-requests',
      'flotilla-notifications-worker:oldest-pending',
      'flotilla-notifications-worker:queue-depth',
      'flotilla-notifications:inflight-requests',
    ]);
    const all = [
      ...queries,
      { name: 'adapter:inflight', expr: adapterInflight },
      ...adapterQueue.map((expr, index) => ({ name: `adapter:external${index}`, expr })),
    ];
    const record = (name: string) => `check:${name.replace(/[^a-z0-9_:]/gi, '_')}`;
    writeFileSync(
      join(work, 'queries.rules.yaml'),
      stringify({
        groups: [{ name: 'queries', rules: all.map(({ name, expr }) => ({ record: record(name), expr })) }],
      }),
    );
    const checked = await promtool(['check', 'rules', 'queries.rules.yaml']);
    expect(checked.ok, checked.output).toBe(true);

    // Two API pods and two worker pods of one release, every one exporting the same queue numbers.
    const pod = (name: string, job: string) =>
      `namespace="flotilla",pod="${name}",service="flotilla-notifications",job="${job}"`;
    const replicas = [
      ['flotilla-notifications-7d9f8b6c5d-aaaaa', 'flotilla-notifications', '10'],
      ['flotilla-notifications-7d9f8b6c5d-bbbbb', 'flotilla-notifications', '30'],
      ['flotilla-notifications-worker-5c6b7d8f9-ccccc', 'flotilla-notifications-worker', '99'],
      ['flotilla-notifications-worker-5c6b7d8f9-ddddd', 'flotilla-notifications-worker', '99'],
    ] as const;
    const series = replicas.flatMap(([name, job, inflight]) => [
      { series: `mcp_inflight_requests{${pod(name, job)}}`, values: `${inflight}x20` },
      { series: `flotilla_notifications_queue_depth{${pod(name, job)}}`, values: '500x20' },
      { series: `flotilla_notifications_oldest_pending_seconds{${pod(name, job)}}`, values: '240x20' },
    ]);
    const notificationsInflight = queries.find((query) => query.name === 'flotilla-notifications:inflight-requests');
    const exprTests = [
      // KEDA: the API's pods only (10 + 30), never the worker's.
      { expr: notificationsInflight?.expr, eval_time: '5m', exp_samples: [{ labels: '{}', value: 40 }] },
      ...queries
        .filter((query) => query.name.startsWith('flotilla-notifications-worker:'))
        .map((query) => ({
          expr: query.expr,
          eval_time: '5m',
          exp_samples: [{ labels: '{}', value: query.expr.includes('depth') ? 500 : 240 }],
        })),
      // The adapter: one value per pod for the Pods metric, one per namespace for the queue.
      {
        expr: adapterInflight,
        eval_time: '5m',
        exp_samples: [
          { labels: '{pod="flotilla-notifications-7d9f8b6c5d-aaaaa"}', value: 10 },
          { labels: '{pod="flotilla-notifications-7d9f8b6c5d-bbbbb"}', value: 30 },
        ],
      },
      ...adapterQueue.map((expr) => ({
        expr,
        eval_time: '5m',
        exp_samples: [{ labels: '{namespace="flotilla"}', value: expr.includes('depth') ? 500 : 240 }],
      })),
    ];
    writeFileSync(
      join(work, 'queries.test.yaml'),
      stringify({
        rule_files: ['queries.rules.yaml'],
        evaluation_interval: '30s',
        tests: [{ interval: '30s', input_series: series, promql_expr_test: exprTests }],
      }),
    );
    const tested = await promtool(['test', 'rules', 'queries.test.yaml']);
    expect(tested.ok, tested.output).toBe(true);
  });
});

// Debian's `prometheus` package provides promtool, as monitoring.test.ts uses it.
async function promtool(args: string[]) {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: work });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: string; stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') {
      throw new Error('promtool is not installed: apt-get install -y --no-install-recommends prometheus');
    }
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}
