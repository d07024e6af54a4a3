import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const RECEIVER_MAIN = fileURLToPath(new URL('./webhook-receiver.ts', import.meta.url));

export type ReceiverRequest = { type: 'status' } | { type: 'take' };

export type ReceiverReply =
  | { type: 'listening'; port: number }
  | {
      type: 'status';
      /** Distinct notification ids verified so far. */
      verified: number;
      /** Verified deliveries of an id already seen (legal: delivery is at least once). */
      duplicates: number;
      /** Deliveries that failed verification (bad signature, or a payload id that is not the webhook-id). */
      failures: number;
      firstFailure: string | undefined;
    }
  | {
      type: 'deliveries';
      /** First verified deliveries since the last `take`, with their arrival times (ms since the epoch). */
      ids: string[];
      times: number[];
    };

type Status = Extract<ReceiverReply, { type: 'status' }>;

export interface Receiver {
  /** Where the webhook channel points. */
  readonly url: string;
  /** The channel's Standard Webhooks signing secret. */
  readonly secret: string;
  readonly pid: number;
  status(): Promise<Status>;
  /** The first deliveries since the previous call, id → arrival time. */
  take(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

/** Starts webhook-receiver.ts as a child process with a fresh secret and waits until it listens. */
export async function startReceiver(): Promise<Receiver> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const child = fork(RECEIVER_MAIN, [], {
    env: { PATH: process.env.PATH ?? '', WEBHOOK_SECRET: secret },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => process.removeListener('exit', killOnExit));

  const listening = await nextReply(child, 'listening');
  // One question at a time: replies come back in order, each answering the oldest question.
  let queue: Promise<unknown> = Promise.resolve();
  const ask = <T extends ReceiverReply['type']>(request: ReceiverRequest, reply: T) => {
    const answer = queue.then(() => {
      const next = nextReply(child, reply);
      child.send(request);
      return next;
    });
    queue = answer.catch(() => undefined);
    return answer;
  };
  return {
    url: `http://127.0.0.1:${listening.port}/hooks`,
    secret,
    pid: child.pid ?? 0,
    status: () => ask({ type: 'status' }, 'status'),
    async take() {
      const { ids, times } = await ask({ type: 'take' }, 'deliveries');
      return new Map(ids.map((id, index) => [id, times[index] ?? 0]));
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function nextReply<T extends ReceiverReply['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<ReceiverReply, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ReceiverReply) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as Extract<ReceiverReply, { type: T }>);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`the webhook receiver exited (${code}) before answering "${type}"`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
