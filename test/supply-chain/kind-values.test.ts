import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { type K8sObject, policyViolations, repoRoot, template, validateObject } from '../deploy/tools.js';

// The kind job of .github/workflows/release.yml cannot run here (no container runtime), so what it installs is
// checked offline: the umbrella chart renders with .github/kind/values.yaml, on the images the workflow loads,
// within the deployment policy, and every Secret the release reads is one .github/kind/bootstrap.sh creates.

const SERVERS = ['database', 'files', 'notifications'];
/** bootstrap.sh's loop variable in a Secret name. */
const PER_SERVER = /\$\{server\}/;
let objects: K8sObject[];

beforeAll(async () => {
  objects = await template('flotilla', { valuesFiles: [join(repoRoot, '.github/kind/values.yaml')] });
}, 60_000);

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML.
const podSpecs = (): any[] =>
  objects.flatMap((object) => {
    if (object.kind === 'Pod') return [object.spec];
    if (object.kind === 'Deployment' || object.kind === 'Job') return [object.spec.template.spec];
    return [];
  });

it('renders valid Kubernetes 1.33 objects that meet the deployment policy', () => {
  for (const object of objects) validateObject(object);
  expect(policyViolations(objects)).toEqual([]);
  expect(objects.filter((object) => object.kind === 'Ingress')).toEqual([]);
});

it('runs the images the workflow builds and loads into kind, never pulling them', () => {
  const ours = podSpecs()
    .flatMap((spec) => spec.containers)
    .filter((container) => String(container.image).startsWith('ci.local/'));
  expect(new Set(ours.map((container) => container.image))).toEqual(
    new Set(SERVERS.map((server) => `ci.local/flotilla/${server}:ci`)),
  );
  for (const container of ours) expect(container.imagePullPolicy).toBe('Never');
});

it('reads only Secrets that bootstrap.sh creates', async () => {
  const script = await readFile(join(repoRoot, '.github/kind/bootstrap.sh'), 'utf8');
  const created = new Set(
    [...script.matchAll(/^\s*secret "?(flotilla-[\w${}-]+)"?/gm)].flatMap(([, name]) =>
      name && PER_SERVER.test(name) ? SERVERS.map((server) => name.replace(PER_SERVER, server)) : [name],
    ),
  );
  const read = new Set<string>();
  for (const spec of podSpecs()) {
    for (const volume of spec.volumes ?? []) if (volume.secret) read.add(volume.secret.secretName);
    for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (ref) read.add(ref.name);
      }
    }
  }
  expect(read.size).toBeGreaterThan(0);
  expect([...read].filter((name) => !created.has(name))).toEqual([]);
});
