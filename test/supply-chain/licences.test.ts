import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript, SERVERS } from './run.js';

// The licence gate (scripts/supply-chain/licences.mjs) on the real SBOMs, and on crafted ones that must fail.

interface Bom {
  metadata: { component: { 'bom-ref': string } };
  components: Record<string, unknown>[];
  dependencies: { ref: string; dependsOn: string[] }[];
}

let dir: string;
const real = (server: string) => join(dir, `${server}.cdx.json`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-licences-'));
  const run = await runScript('sbom.mjs', ['--out-dir', dir]);
  expect(run.code, run.stderr).toBe(0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The database SBOM with one more component, pulled in by @flotilla/runtime. */
async function craft(name: string, licenses: unknown[] | undefined): Promise<string> {
  const bom = JSON.parse(await readFile(real('database'), 'utf8')) as Bom;
  const ref = `${name}@1.0.0`;
  bom.components.push({
    type: 'library',
    'bom-ref': ref,
    name,
    version: '1.0.0',
    scope: 'required',
    purl: `pkg:npm/${name}@1.0.0`,
    ...(licenses ? { licenses } : {}),
  });
  const runtimeRef = bom.components.find((item) => item.group === '@flotilla' && item.name === 'runtime')?.['bom-ref'];
  const runtime = bom.dependencies.find((entry) => entry.ref === runtimeRef);
  if (!runtime) throw new Error('the database SBOM has no @flotilla/runtime');
  runtime.dependsOn.push(ref);
  const file = join(dir, `crafted-${name}.cdx.json`);
  await writeFile(file, JSON.stringify(bom));
  return file;
}

async function exceptionsFile(exceptions: unknown[]): Promise<string> {
  const file = join(dir, `exceptions-${exceptions.length}-${Date.now()}.json`);
  await writeFile(file, JSON.stringify({ exceptions }));
  return file;
}

it('passes on the real tree, with every server checked', async () => {
  const run = await runScript('licences.mjs', SERVERS.map(real));
  expect(run.code, run.stdout + run.stderr).toBe(0);
  for (const server of SERVERS) expect(run.stdout).toMatch(new RegExp(`@flotilla/${server}: \\d+ third-party`));
  expect(run.stdout).toContain('Licence check passed.');
  expect(run.stderr).not.toContain('REFUSED');
  // The checked-in exceptions file carries no waiver that matches nothing.
  expect(run.stdout).not.toContain('stale exception');
});

describe('a crafted SBOM', () => {
  it('fails on a GPL-3.0 component, naming the package, its licence and who pulls it in', async () => {
    const run = await runScript('licences.mjs', [
      await craft('copyleft-widget', [{ license: { id: 'GPL-3.0-only' } }]),
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'REFUSED   copyleft-widget@1.0.0: GPL-3.0-only (strong copyleft or not open source), ' +
        'pulled in by @flotilla/database@0.1.0 > @flotilla/runtime@0.1.0 > copyleft-widget@1.0.0',
    );
    expect(run.stdout).toContain('@flotilla/database:');
  });

  it.each([
    ['AGPL-3.0-or-later', [{ license: { id: 'AGPL-3.0-or-later' } }]],
    ['SSPL-1.0', [{ license: { id: 'SSPL-1.0' } }]],
    ['an AND with GPL', [{ expression: 'MIT AND GPL-2.0-only' }]],
  ])('fails on %s', async (_, licenses) => {
    const run = await runScript('licences.mjs', [await craft('strong-widget', licenses)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('REFUSED   strong-widget@1.0.0');
  });

  it('passes a choice that includes a permissive licence', async () => {
    const run = await runScript('licences.mjs', [
      await craft('dual-widget', [{ expression: '(MIT OR GPL-3.0-only)' }]),
    ]);
    expect(run.code, run.stderr).toBe(0);
  });

  it('passes weak copyleft with a note', async () => {
    const run = await runScript('licences.mjs', [await craft('weak-widget', [{ license: { id: 'MPL-2.0' } }])]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('note      weak-widget@1.0.0: MPL-2.0 (weak copyleft)');
  });

  it.each([
    ['no licence', undefined, '(none declared)'],
    ['a licence nobody has reviewed', [{ license: { name: 'SEE LICENSE IN LICENSE' } }], 'SEE LICENSE IN LICENSE'],
  ])('fails on %s unless an exception covers it', async (_, licenses, declared) => {
    const file = await craft('mystery-widget', licenses);
    const refused = await runScript('licences.mjs', [file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`REFUSED   mystery-widget@1.0.0: ${declared} (unknown or missing licence)`);

    const waiver = { package: 'mystery-widget', version: '1.0.0', licence: declared, reason: 'Reviewed: MIT text.' };
    const excepted = await runScript('licences.mjs', ['--exceptions', await exceptionsFile([waiver]), file]);
    expect(excepted.code, excepted.stderr).toBe(0);
    expect(excepted.stdout).toContain('excepted  mystery-widget@1.0.0');

    // A waiver is for one licence text: a package that changes its licence is refused again.
    const stale = await runScript('licences.mjs', [
      '--exceptions',
      await exceptionsFile([{ ...waiver, licence: 'Something-else' }]),
      file,
    ]);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain('stale exception');
  });

  it('refuses an exceptions file without a reason', async () => {
    const file = await exceptionsFile([{ package: 'x', version: '*', licence: 'GPL-3.0-only' }]);
    const run = await runScript('licences.mjs', ['--exceptions', file, real('database')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('every exception needs a non-empty "reason"');
  });
});
