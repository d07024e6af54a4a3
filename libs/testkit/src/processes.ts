import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

export interface SpawnSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly runAs?: RunAs | undefined;
}

const OUTPUT_TAIL_CHARS = 8000;

// Inherited PG*/REDIS* variables could silently redirect the servers or the readiness probes elsewhere.
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG') && !key.startsWith('REDIS')) env[key] = value;
  }
  return env;
}

export function describeExit(exit: ExitInfo): string {
  if (exit.error) return `failed to spawn: ${exit.error.message}`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** One long-running server child; can be spawned again with the same arguments after it exits. */
export class ServerProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  #running = false;
  #output = '';

  constructor(
    readonly name: string,
    private readonly spec: SpawnSpec,
  ) {}

  get running(): boolean {
    return this.#running;
  }

  get pid(): number | undefined {
    return this.#running ? this.#child?.pid : undefined;
  }

  get exited(): Promise<ExitInfo> {
    return this.#exited;
  }

  outputTail(): string {
    return this.#output.trim();
  }

  spawn(): void {
    if (this.#running) throw new Error(`${this.name} is already running`);
    this.#output = '';
    const child = spawn(this.spec.command, [...this.spec.args], {
      cwd: this.spec.cwd,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.spec.runAs ? { uid: this.spec.runAs.uid, gid: this.spec.runAs.gid } : {}),
    });
    this.#child = child;
    this.#running = true;
    const append = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.#exited = new Promise<ExitInfo>((resolve) => {
      child.once('error', (error) => {
        this.#running = false;
        resolve({ code: null, signal: null, error });
      });
      child.once('exit', (code, signal) => {
        this.#running = false;
        resolve({ code, signal });
      });
    });
  }

  /** Sends `signal`, escalating to SIGKILL if the process has not exited after `graceMs`. */
  async stop(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.#child;
    if (!this.#running || !child) return;
    const exited = this.#exited;
    child.kill(signal);
    const timer = sleep(graceMs, 'timeout' as const, { ref: false });
    if ((await Promise.race([exited, timer])) === 'timeout') {
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** For process-exit handlers, where the event loop no longer runs and nothing can be awaited. */
  stopSync(signal: NodeJS.Signals, graceMs: number): void {
    const pid = this.pid;
    if (pid === undefined) return;
    terminateSync(pid, signal, graceMs);
    this.#running = false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A zombie still answers kill(pid, 0), and an unreaped child of ours is a zombie once it exits,
 * so where /proc exists its process state has the final word.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

function canObserveExit(): boolean {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

/** Synchronous terminate: `signal`, a bounded wait, then SIGKILL. */
export function terminateSync(pid: number, signal: NodeJS.Signals, graceMs: number): void {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  // Without /proc an exited child is indistinguishable from a live one here, so waiting would only add delay.
  if (canObserveExit()) {
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) sleepSync(10);
  }
  try {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Asynchronous terminate for processes that are not our children (leftovers of a dead test run). */
export async function terminate(pid: number, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(20);
  try {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** The command line of any process, used to make sure a recorded pid still belongs to the server we started. */
export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    try {
      return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', stdio: 'pipe' });
    } catch {
      return undefined;
    }
  }
}

/** Runs a command to completion and returns its combined output. */
export function runToCompletion(spec: SpawnSpec): Promise<{ exit: ExitInfo; output: string }> {
  const proc = new ServerProcess(spec.command, spec);
  proc.spawn();
  return proc.exited.then((exit) => ({ exit, output: proc.outputTail() }));
}

export interface WaitForReadyOptions {
  readonly what: string;
  readonly probe: () => Promise<boolean>;
  readonly timeoutMs: number;
  /** When given, a server that exits while we wait fails the wait at once, with its output. */
  readonly process?: ServerProcess;
}

/** Polls `probe` until it succeeds or the timeout passes. */
export async function waitForReady(options: WaitForReadyOptions): Promise<void> {
  const { what, process: proc, probe, timeoutMs } = options;
  const deadline = Date.now() + timeoutMs;
  const output = () => (proc ? ` Output:\n${proc.outputTail()}` : '');
  for (;;) {
    if (proc && !proc.running) {
      const exit = await proc.exited;
      throw new Error(`${what} ${describeExit(exit)} before accepting connections.${output()}`);
    }
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not accept connections within ${timeoutMs} ms.${output()}`);
    await sleep(25);
  }
}
