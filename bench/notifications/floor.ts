import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FLOOR_QUEUE_SCHEMA, FLOOR_SCHEMA } from './database.ts';

const FLOOR_MAIN = fileURLToPath(new URL('./floor-loop.ts', import.meta.url));

export type FloorRequest = { type: 'run'; concurrency: number; seconds: number; keyPrefix: string };

export interface FloorFigures {
  readonly accepts: number;
  readonly seconds: number;
  readonly latencyMs: { readonly mean: number; readonly p50: number; readonly p99: number; readonly max: number };
  readonly errors: number;
  readonly firstError: string | undefined;
}

export type FloorReply = { type: 'ready' } | ({ type: 'result' } & FloorFigures) | { type: 'failed'; message: string };

export interface Floor {
  readonly pid: number;
  /** `concurrency` loops accepting back to back for `seconds`. */
  run(concurrency: number, seconds: number, keyPrefix: string): Promise<FloorFigures>;
  stop(): Promise<void>;
}

/** Starts floor-loop.ts as its own process, its CPU apart from the benchmark's, and waits until pg-boss runs. */
export async function startFloor(options: {
  databaseUrl: string;
  poolSize: number;
  expireInSeconds: number;
}): Promise<Floor> {
  const child = fork(FLOOR_MAIN, [], {
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: options.databaseUrl,
      POOL_SIZE: String(options.poolSize),
      FLOOR_SCHEMA,
      QUEUE_SCHEMA: FLOOR_QUEUE_SCHEMA,
      EXPIRE_IN_SECONDS: String(options.expireInSeconds),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => process.removeListener('exit', killOnExit));
  await nextReply(child);
  return {
    pid: child.pid ?? 0,
    async run(concurrency, seconds, keyPrefix) {
      const reply = nextReply(child);
      child.send({ type: 'run', concurrency, seconds, keyPrefix } satisfies FloorRequest);
      const answer = await reply;
      if (answer.type !== 'result') throw new Error(`the floor failed: ${JSON.stringify(answer)}`);
      const { type: _, ...figures } = answer;
      return figures;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function nextReply(child: ChildProcess): Promise<FloorReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FloorReply) => {
      child.off('exit', onExit);
      if (message.type === 'failed') reject(new Error(`the floor failed: ${message.message}`));
      else resolve(message);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`the floor process exited (${code}) before answering`));
    };
    child.once('message', onMessage);
    child.once('exit', onExit);
  });
}
