import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepStaleDirs, TEMP_DIR_PREFIXES } from './cleanup.js';
import { findPostgresBinaries } from './pg-cluster.js';
import { isAlive } from './processes.js';

// The exit hooks can only be observed from outside, so the testkit runs in a child Node process. Node cannot load
// the TypeScript sources (their imports say `.js`), hence a quick transpile into a throwaway directory.

const CHILD_SCRIPT = `
import { startPostgres, startRedis, startTestIssuer, writeApiKeysFile } from './dist/index.js';
await Promise.all([startPostgres(), startRedis(), startTestIssuer(), writeApiKeysFile([])]);
process.stdout.write('ready\\n');
// 'exit' waits for the parent's go-ahead, so the parent sees the servers alive before the exit hooks run.
if (process.argv[2] === 'exit') process.stdin.once('data', () => process.exit(0));
setInterval(() => undefined, 1_000);
`;

let workDir: string;
// The child gets its own TMPDIR, so sweeps by concurrently running test files cannot interfere.
let childTmp: string;

function transpileTestkit(outDir: string): void {
  const srcDir = import.meta.dirname;
  const sources = readdirSync(srcDir, { recursive: true, encoding: 'utf8' });
  for (const file of sources.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    const { outputText } = ts.transpileModule(readFileSync(join(srcDir, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023, verbatimModuleSyntax: true },
      fileName: file,
    });
    const target = join(outDir, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
}

function canRunLocalPostgres(): boolean {
  try {
    findPostgresBinaries();
    return true;
  } catch {
    return false;
  }
}

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'testkit-exit-test-'));
  childTmp = join(workDir, 'tmp');
  mkdirSync(childTmp);
  // When root, Postgres runs as another user, which must be able to traverse into its temp dir.
  chmodSync(workDir, 0o755);
  chmodSync(childTmp, 0o1777);
  const nodeModules = dirname(dirname(createRequire(import.meta.url).resolve('pg/package.json')));
  symlinkSync(nodeModules, join(workDir, 'node_modules'));
  writeFileSync(join(workDir, 'package.json'), '{ "type": "module" }');
  writeFileSync(join(workDir, 'child.js'), CHILD_SCRIPT);
  mkdirSync(join(workDir, 'dist'));
  transpileTestkit(join(workDir, 'dist'));
});

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

interface Leftovers {
  readonly dirs: string[];
  readonly serverPids: number[];
}

/** The temp dirs a given process owns, and the server pids recorded in them. */
function ownedBy(pid: number): Leftovers {
  const dirs: string[] = [];
  const serverPids: number[] = [];
  for (const name of readdirSync(childTmp)) {
    if (!TEMP_DIR_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    const dir = join(childTmp, name);
    try {
      const record = JSON.parse(readFileSync(join(dir, 'flotilla-owner.json'), 'utf8'));
      if (record.ownerPid !== pid) continue;
      dirs.push(dir);
      if (record.server) serverPids.push(record.server.pid);
    } catch {
      // Not ours, or being removed right now.
    }
  }
  return { dirs, serverPids };
}

async function startChild(mode: 'exit' | 'wait'): Promise<{ child: ChildProcess; leftovers: Leftovers }> {
  const child = spawn(process.execPath, ['child.js', mode], {
    cwd: workDir,
    env: { ...process.env, FLOTILLA_TESTKIT_MODE: 'local', TMPDIR: childTmp },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // A child that fails to start its servers exits without a word on stdout; that must fail the test at once
  // (its error is on the inherited stderr) rather than leave it waiting for 'ready' until the test times out.
  const first = await Promise.race([
    once(child.stdout as NodeJS.ReadableStream, 'data').then(([chunk]) => String(chunk)),
    once(child, 'exit').then(([code, signal]) => `exited before ready (code ${code}, signal ${signal})`),
  ]);
  expect(first).toContain('ready');
  const leftovers = ownedBy(child.pid ?? -1);
  expect(leftovers.dirs).toHaveLength(4);
  expect(leftovers.serverPids).toHaveLength(2);
  for (const pid of leftovers.serverPids) expect(isAlive(pid)).toBe(true);
  return { child, leftovers };
}

function expectGone({ dirs, serverPids }: Leftovers): void {
  for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  for (const pid of serverPids) expect(isAlive(pid)).toBe(false);
}

describe.skipIf(!canRunLocalPostgres())('cleanup of servers and temp dirs', () => {
  it('happens on process.exit()', async () => {
    const { child, leftovers } = await startChild('exit');
    child.stdin?.write('exit\n');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expectGone(leftovers);
  });

  it('happens on SIGTERM, after which the process still dies from the signal', async () => {
    const { child, leftovers } = await startChild('wait');
    child.kill('SIGTERM');
    const [, signal] = await once(child, 'exit');
    expect(signal).toBe('SIGTERM');
    expectGone(leftovers);
  });

  it('is done by the next sweep when the owning process was SIGKILLed', async () => {
    const { child, leftovers } = await startChild('wait');
    child.kill('SIGKILL');
    await once(child, 'exit');
    for (const pid of leftovers.serverPids) expect(isAlive(pid)).toBe(true);

    await sweepStaleDirs(childTmp);
    expectGone(leftovers);
  });
});
