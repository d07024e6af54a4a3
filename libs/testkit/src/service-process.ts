import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort } from './net.js';

export interface ServiceProcess {
  readonly mcpUrl: string;
  readonly adminUrl: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code and signal once the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote to stderr so far (its JSON log lines). */
  stderr(): string;
  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a built service (`node dist/main.js`, with `args` such as `--role=worker`) as its own
 * process on free ports, the way it runs in production, and resolves once its /readyz answers 200.
 * `nodeArgs` go to Node before the script, as the image's entry point passes them (see imageNodeFlags).
 */
export async function spawnService(
  main: string,
  env: Record<string, string>,
  timeoutMs = 20_000,
  args: readonly string[] = [],
  nodeArgs: readonly string[] = [],
): Promise<ServiceProcess> {
  // Port 0 would leave the chosen port unknown to this side, so it means "pick a free one" here too.
  const port = Number(env.PORT) || (await freePort());
  const adminPort = Number(env.ADMIN_PORT) || (await freePort());
  const child = spawn(process.execPath, [...nodeArgs, main, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      ...env,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  // If the test process dies first, the service must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      process.removeListener('exit', killOnExit);
      resolve({ code, signal });
    }),
  );
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const deadline = Date.now() + timeoutMs;
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  while (true) {
    if (ended) throw new Error(`${main} exited before it was ready:\n${stderr.slice(-2000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${main} was not ready within ${timeoutMs} ms:\n${stderr.slice(-2000)}`);
    }
    const status = await fetch(`${adminUrl}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    mcpUrl: `http://127.0.0.1:${port}/mcp`,
    adminUrl,
    child,
    exited,
    stderr: () => stderr,
    async stop(graceMs = 10_000) {
      if (ended) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The Node.js flags the image's entry point runs every server with (`ENTRYPOINT ["node", <flags>,
 * "/app/main.js"]` in docker/Dockerfile), so tests and benchmarks start a server as a pod does.
 */
export function imageNodeFlags(dockerfile: string): string[] {
  const line = readFileSync(dockerfile, 'utf8')
    .split('\n')
    .find((text) => text.startsWith('ENTRYPOINT '));
  if (!line) throw new Error(`${dockerfile} has no ENTRYPOINT`);
  const command = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
  if (command[0] !== 'node' || command.at(-1) !== '/app/main.js') {
    throw new Error(`${dockerfile}: the ENTRYPOINT is not ["node", …flags, "/app/main.js"]`);
  }
  return command.slice(1, -1);
}
