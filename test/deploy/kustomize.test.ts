import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ensureTools,
  helm,
  KUBE_VERSION,
  kubectl,
  parseManifests,
  policyViolations,
  repoRoot,
  validateObject,
} from './tools.js';

const k8s = join(repoRoot, 'k8s');

beforeAll(async () => {
  await ensureTools();
}, 120_000);

// kubectl's built-in kustomize (v5.6, from the same layer zip as helm) renders the overlays.
async function build(dir: string) {
  const result = await kubectl(['kustomize', join(k8s, dir)]);
  if (!result.ok) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseManifests(result.stdout);
}

describe('k8s/ kustomize', () => {
  it('base/flotilla.yaml is exactly what the charts render from base/values.yaml', async () => {
    const rendered = await helm([
      'template',
      'flotilla',
      join(repoRoot, 'charts/flotilla'),
      '--namespace',
      'flotilla',
      '--kube-version',
      KUBE_VERSION,
      '--values',
      join(k8s, 'base/values.yaml'),
    ]);
    expect(rendered.ok, rendered.stderr).toBe(true);
    const header = '# Generated from charts/flotilla with k8s/base/values.yaml; do not edit (see values.yaml).\n';
    // `vitest run deploy -u` rewrites the file after a chart change; CI fails while it is stale.
    await expect(header + rendered.stdout).toMatchFileSnapshot(join(k8s, 'base/flotilla.yaml'));
  });

  it.each(['base', 'overlays/dev', 'overlays/prod'])(
    '%s renders valid objects that meet the deployment policy',
    async (dir) => {
      const objects = await build(dir);
      for (const object of objects) validateObject(object);
      expect(policyViolations(objects)).toEqual([]);
      expect(objects.filter((object) => object.kind === 'Deployment')).toHaveLength(3);
      expect(objects.every((object) => object.kind === 'Namespace' || object.metadata.namespace === 'flotilla')).toBe(
        true,
      );
    },
  );

  it('dev runs one replica per server on dev hosts, with PUBLIC_URL and the Ingress agreeing', async () => {
    const objects = await build('overlays/dev');
    const hpas = objects.filter((object) => object.kind === 'HorizontalPodAutoscaler');
    expect(hpas.map((hpa) => hpa.spec.minReplicas)).toEqual([1, 1, 1]);
    for (const ingress of objects.filter((object) => object.kind === 'Ingress')) {
      const host = ingress.spec.rules[0].host as string;
      expect(host).toMatch(/\.mcp\.dev\.example\.com$/);
      const config = objects.find(
        (object) => object.kind === 'ConfigMap' && object.metadata.name === ingress.metadata.name,
      );
      expect(config?.data.PUBLIC_URL).toBe(`https://${host}/mcp`);
      expect(config?.data.ALLOWED_HOSTS.split(',')).toContain(host);
    }
  });

  it('prod pins every server image by digest and ships the alerts and dashboards', async () => {
    const objects = await build('overlays/prod');
    const images = objects
      .filter((object) => object.kind === 'Deployment')
      .map((object) => object.spec.template.spec.containers[0].image as string);
    expect(images.every((image) => /@sha256:[a-f0-9]{64}$/.test(image))).toBe(true);
    expect(
      objects.filter((object) => object.kind === 'HorizontalPodAutoscaler').map((hpa) => hpa.spec.minReplicas),
    ).toEqual([3, 3, 3]);
    expect(objects.some((object) => object.kind === 'PrometheusRule')).toBe(true);
    const dashboards = objects.filter((object) => object.metadata.labels?.grafana_dashboard === '1');
    expect(dashboards.map((object) => object.metadata.name).sort()).toEqual([
      'flotilla-dashboard-database',
      'flotilla-dashboard-files',
      'flotilla-dashboard-notifications',
    ]);
  });

  it('the base namespace enforces the restricted Pod Security Standard', () => {
    expect(readFileSync(join(k8s, 'base/namespace.yaml'), 'utf8')).toContain(
      'pod-security.kubernetes.io/enforce: restricted',
    );
  });
});
