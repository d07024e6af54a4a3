import { type ChildProcess, spawn } from 'node:child_process';
import { waitUntil } from './net.ts';

export interface ChildServer {
  readonly pid: number;
  /** The last few kilobytes the process wrote, for error messages. */
  outputTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface ChildServerOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  readonly cwd?: string;
  /** Resolves true once the server serves requests. */
  readonly ready: () => Promise<boolean>;
  readonly readyTimeoutMs?: number;
}

const TAIL_BYTES = 8192;

/**
 * Runs a server as its own process, so it never shares the load generator's event loop and its CPU
 * time can be read apart, and waits until `ready` says it serves.
 */
export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Drained, not stored: access logs at thousands of lines a second would otherwise pile up here.
  let tail = '';
  const keepTail = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  };
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  // If the benchmark dies first, the server must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.removeListener('exit', killOnExit));

  const server: ChildServer = {
    pid: child.pid ?? 0,
    outputTail: () => tail,
    stop: (graceMs = 5000) => stopChild(child, exited, graceMs),
  };
  try {
    await waitUntil(options.name, options.ready, {
      timeoutMs: options.readyTimeoutMs ?? 20_000,
      failed: () => {
        if (spawnError) return spawnError.message;
        if (child.exitCode !== null || child.signalCode !== null) {
          return `exited with ${child.exitCode ?? child.signalCode}:\n${tail}`;
        }
        return undefined;
      },
    });
  } catch (error) {
    await server.stop(0);
    throw new Error(`${(error as Error).message}\n${tail}`);
  }
  return server;
}

async function stopChild(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  // No pid: it never started, so there is nothing to stop (and no exit event to wait for).
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
