import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  chartsDir,
  ensureTools,
  helm,
  type K8sObject,
  policyViolations,
  serverCharts,
  template,
  templateRaw,
  validateObject,
} from './tools.js';

const allCharts = ['flotilla-common', ...serverCharts, 'flotilla'];
const ciValues = (chart: string) =>
  readdirSync(join(chartsDir, chart, 'ci'))
    .filter((file) => file.endsWith('-values.yaml'))
    .map((file) => join(chartsDir, chart, 'ci', file));
const byKind = (objects: K8sObject[], kind: string) => objects.filter((object) => object.kind === kind);
const hooks = (object: K8sObject) => String(object.metadata.annotations?.['helm.sh/hook'] ?? '');

beforeAll(async () => {
  await ensureTools();
}, 120_000);

describe('helm lint', () => {
  it.each(allCharts)('%s passes lint with its defaults and every ci values file', async (chart) => {
    const runs = [[], ...(chart === 'flotilla-common' ? [] : ciValues(chart).map((file) => ['--values', file]))];
    for (const extra of runs) {
      const result = await helm(['lint', join(chartsDir, chart), '--strict', ...extra]);
      expect(result.ok, `${chart} ${extra.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(true);
    }
  });
});

describe.each(serverCharts)('%s', (chart) => {
  const variants = () => [
    { name: 'defaults', valuesFiles: [] as string[] },
    ...ciValues(chart).map((file) => ({ name: file, valuesFiles: [file] })),
  ];

  it('renders valid Kubernetes 1.33 objects that meet the deployment policy, with defaults and ci values', async () => {
    for (const variant of variants()) {
      const objects = await template(chart, { valuesFiles: variant.valuesFiles });
      expect(objects.length, variant.name).toBeGreaterThan(5);
      for (const object of objects) validateObject(object);
      expect(policyViolations(objects), variant.name).toEqual([]);
      // No Secret is ever rendered: credentials come only from existing Secrets.
      expect(byKind(objects, 'Secret'), variant.name).toEqual([]);
      const deployments = byKind(objects, 'Deployment');
      expect(deployments.length, variant.name).toBeGreaterThan(0);
      expect(
        byKind(objects, 'Pod').filter((pod) => hooks(pod) === 'test'),
        variant.name,
      ).toHaveLength(1);
    }
  });

  it('sets PUBLIC_URL and the route host from one value', async () => {
    const objects = await template(chart, {
      set: [
        'publicHost=mcp.acme.test',
        'ingress.enabled=true',
        'httpRoute.enabled=true',
        'httpRoute.parentRefs[0].name=gw',
      ],
    });
    const config = byKind(objects, 'ConfigMap').find((map) => map.data?.PUBLIC_URL);
    expect(config?.data.PUBLIC_URL).toBe('https://mcp.acme.test/mcp');
    expect(config?.data.ALLOWED_HOSTS.split(',')).toContain('mcp.acme.test');
    expect(byKind(objects, 'Ingress')[0]?.spec.rules[0].host).toBe('mcp.acme.test');
    expect(byKind(objects, 'HTTPRoute')[0]?.spec.hostnames).toEqual(['mcp.acme.test']);
  });

  it('computes a grace period that outlasts the configured shutdown, and refuses a shorter one', async () => {
    const objects = await template(chart, {
      set: ['config.SHUTDOWN_DELAY_MS=15000', 'config.SHUTDOWN_TIMEOUT_MS=40000'],
    });
    expect(byKind(objects, 'Deployment')[0]?.spec.template.spec.terminationGracePeriodSeconds).toBe(60);
    const refused = await templateRaw(chart, { set: ['terminationGracePeriodSeconds=20'] });
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toContain('must exceed SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS');
  });

  it('rolls the pods when the configuration changes', async () => {
    const checksum = async (set: string[]) =>
      byKind(await template(chart, { set }), 'Deployment')[0]?.spec.template.metadata.annotations['checksum/config'];
    expect(await checksum(['config.LOG_LEVEL=debug'])).not.toBe(await checksum(['config.LOG_LEVEL=info']));
  });

  it('scales on in-flight calls through a Pods metric when asked to', async () => {
    const objects = await template(chart, { set: ['autoscaling.inflightRequests.enabled=true'] });
    const metrics = byKind(objects, 'HorizontalPodAutoscaler')[0]?.spec.metrics;
    expect(metrics).toContainEqual(expect.objectContaining({ type: 'Resource' }));
    expect(metrics).toContainEqual({
      type: 'Pods',
      pods: { metric: { name: 'mcp_inflight_requests' }, target: { type: 'AverageValue', averageValue: '32' } },
    });
  });

  it.each([
    ['a replica count that is not a number', ['replicaCount=two']],
    ['a rate limit that is not a number', ['config.RATE_LIMIT_PER_MINUTE=lots']],
    ['a log level that does not exist', ['config.LOG_LEVEL=loud']],
    ['a boolean given as a word', ['autoscaling.enabled=perhaps']],
    ['a credential in the ConfigMap', ['config.REDIS_URL=redis://user:pw@redis:6379']],
    ['a password-like setting in the ConfigMap', ['config.SMTP_PASSWORD=hunter2']],
    ['a PDB by minAvailable', ['pdb.minAvailable=2']],
    ['the latest tag', ['image.tag=latest']],
    ['an unknown top-level key', ['replicas=3']],
    ['an auth mode that does not exist', ['auth.mode=basic']],
    ['a port out of range', ['containerPorts.admin=70000']],
    ['a writable root filesystem switch', ['securityContext.readOnlyRootFilesystem=false']],
  ])('refuses %s', async (_what, set) => {
    const result = await templateRaw(chart, { set });
    expect(result.ok, result.stdout.slice(0, 200)).toBe(false);
    expect(result.stderr).toMatch(/values don't meet the specifications|not allowed|is not allowed/);
  });

  it('refuses oauth without an issuer', async () => {
    const result = await templateRaw(chart, { set: ['auth.mode=oauth'] });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain('auth.issuer is required');
  });
});

describe('flotilla-database', () => {
  it('runs runtime-role.sql per schema in a pre-install/pre-upgrade hook with the migration credential only', async () => {
    const objects = await template('flotilla-database', {
      set: ['config.DB_ALLOWED_SCHEMAS={public,sales}', 'config.DB_WRITABLE_TABLES={orders,sales.items}'],
    });
    const job = byKind(objects, 'Job')[0];
    expect(hooks(job as K8sObject)).toBe('pre-install,pre-upgrade');
    const script = job?.spec.template.spec.containers[0].args[0] as string;
    expect(script).toContain(
      '-v schema=public -v connection_limit=20 -v writable_tables=orders -f /sql/runtime-role.sql',
    );
    expect(script).toContain(
      '-v schema=sales -v connection_limit=20 -v writable_tables=sales.items -f /sql/runtime-role.sql',
    );
    const sql = byKind(objects, 'ConfigMap').find((map) => map.data?.['runtime-role.sql']);
    expect(hooks(sql as K8sObject)).toBe('pre-install,pre-upgrade');
    expect(Number(sql?.metadata.annotations['helm.sh/hook-weight'])).toBeLessThan(0);
    const server = JSON.stringify(byKind(objects, 'Deployment'));
    expect(server).not.toContain('-migration');
    expect(server).toContain('"name":"DATABASE_URL"');
  });
});

describe('flotilla-files', () => {
  it('has no Postgres credential, no database egress and no migration Job', async () => {
    for (const valuesFiles of [[], ...ciValues('flotilla-files').map((file) => [file])]) {
      const objects = await template('flotilla-files', { valuesFiles });
      const text = JSON.stringify(objects);
      expect(text).not.toMatch(/DATABASE_URL|postgres|5432/i);
      expect(byKind(objects, 'Job')).toEqual([]);
    }
  });

  it('mounts the workspace at FILES_ROOT, ReadWriteMany when more than one replica may run', async () => {
    const scaled = await template('flotilla-files');
    expect(byKind(scaled, 'PersistentVolumeClaim')[0]?.spec.accessModes).toEqual(['ReadWriteMany']);
    const mounts = byKind(scaled, 'Deployment')[0]?.spec.template.spec.containers[0].volumeMounts;
    expect(mounts).toContainEqual({ name: 'data', mountPath: '/data' });
    expect(byKind(scaled, 'ConfigMap')[0]?.data.FILES_ROOT).toBe('/data');
    // Integers stay integers: YAML numbers reach templates as floats, which would print as 4.194304e+06.
    expect(byKind(scaled, 'ConfigMap')[0]?.data.FILES_MAX_READ_BYTES).toBe('4194304');
    const single = await template('flotilla-files', { set: ['replicaCount=1', 'autoscaling.enabled=false'] });
    expect(byKind(single, 'PersistentVolumeClaim')[0]?.spec.accessModes).toEqual(['ReadWriteOnce']);
    const refused = await templateRaw('flotilla-files', { set: ['persistence.accessModes={ReadWriteOnce}'] });
    expect(refused.stderr).toContain('must include ReadWriteMany');
  });
});

describe('flotilla-notifications', () => {
  it('runs one process with --role=all, or an API and a separate worker, each with its own HPA, PDB and policy', async () => {
    const single = await template('flotilla-notifications');
    expect(byKind(single, 'Deployment').map((d) => d.spec.template.spec.containers[0].args)).toEqual([['--role=all']]);
    const split = await template('flotilla-notifications', { set: ['worker.enabled=true'] });
    const args = byKind(split, 'Deployment').map((d) => d.spec.template.spec.containers[0].args[0]);
    expect(args.sort()).toEqual(['--role=api', '--role=worker']);
    expect(byKind(split, 'HorizontalPodAutoscaler')).toHaveLength(2);
    expect(byKind(split, 'PodDisruptionBudget')).toHaveLength(2);
    expect(policyViolations(split)).toEqual([]);
  });

  it('lets only the delivering workload reach webhook and SMTP hosts', async () => {
    const egressPorts = (objects: K8sObject[], component: string) =>
      byKind(objects, 'NetworkPolicy')
        .filter((policy) => policy.spec.podSelector.matchLabels['app.kubernetes.io/component'] === component)
        .flatMap((policy) =>
          policy.spec.egress.flatMap((rule: { ports: { port: number }[] }) => rule.ports.map((p) => p.port)),
        );
    const single = await template('flotilla-notifications');
    expect(egressPorts(single, 'server')).toEqual(expect.arrayContaining([443, 587, 5432, 6379]));
    const split = await template('flotilla-notifications', { set: ['worker.enabled=true'] });
    expect(egressPorts(split, 'server')).not.toContain(443);
    expect(egressPorts(split, 'worker')).toEqual(expect.arrayContaining([443, 587, 5432]));
  });

  it('mounts the channels file from a Secret and migrates with --migrate as a hook', async () => {
    const objects = await template('flotilla-notifications');
    expect(byKind(objects, 'ConfigMap')[0]?.data.NOTIFY_CHANNELS_FILE).toBe('/etc/flotilla/notify/channels.yaml');
    const volumes = byKind(objects, 'Deployment')[0]?.spec.template.spec.volumes;
    expect(volumes).toContainEqual(expect.objectContaining({ name: 'channels', secret: expect.any(Object) }));
    const job = byKind(objects, 'Job')[0];
    expect(job?.spec.template.spec.containers[0].args).toEqual(['--migrate']);
    expect(job?.spec.template.spec.containers[0].env).toContainEqual(
      expect.objectContaining({ name: 'DATABASE_MIGRATION_URL' }),
    );
    expect(JSON.stringify(byKind(objects, 'Deployment'))).not.toContain('DATABASE_MIGRATION_URL');
  });
});

describe('the umbrella chart flotilla', () => {
  it('renders all three servers, each on its own host with a matching PUBLIC_URL', async () => {
    for (const valuesFiles of [[], ...ciValues('flotilla').map((file) => [file])]) {
      const objects = await template('flotilla', { valuesFiles });
      for (const object of objects) validateObject(object);
      expect(policyViolations(objects)).toEqual([]);
      const publicUrls = byKind(objects, 'ConfigMap')
        .map((map) => map.data?.PUBLIC_URL)
        .filter(Boolean)
        .sort();
      expect(publicUrls).toEqual([
        'https://db.mcp.example.com/mcp',
        'https://files.mcp.example.com/mcp',
        'https://notify.mcp.example.com/mcp',
      ]);
      const hosts = [
        ...byKind(objects, 'Ingress').map((ingress) => ingress.spec.rules[0].host),
        ...byKind(objects, 'HTTPRoute').flatMap((route) => route.spec.hostnames),
      ].sort();
      expect(hosts).toEqual(['db.mcp.example.com', 'files.mcp.example.com', 'notify.mcp.example.com']);
      expect(byKind(objects, 'Deployment').map((d) => d.metadata.name)).toEqual(
        expect.arrayContaining(['flotilla-database', 'flotilla-files', 'flotilla-notifications']),
      );
    }
  });
});
