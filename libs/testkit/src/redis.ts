import { existsSync } from 'node:fs';
import { createTempDir, recordServer, removeDir, removeDirSync, track } from './cleanup.js';
import { startContainerRedis } from './containers.js';
import { resolveMode } from './mode.js';
import { freePort, LOCALHOST } from './net.js';
import { redisAnswersPing } from './probes.js';
import { ServerProcess, waitForReady } from './processes.js';
import { Serial } from './serial.js';

export interface RedisInstance {
  readonly host: string;
  readonly port: number;
  /** redis://HOST:PORT */
  readonly url: string;
  /** Stops the server but keeps its port, to simulate an outage. Data is not persisted. */
  stop(): Promise<void>;
  /** Kills the server abruptly (SIGKILL: no goodbye to clients), keeping its port, to simulate a crash. */
  crash(): Promise<void>;
  /** Starts it again on the same port; resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops the server and deletes everything; idempotent. */
  destroy(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 10_000;
const EXIT_GRACE_MS = 1_000;
const PORT_ATTEMPTS = 3;
const REDIS_SERVER_CANDIDATES = [
  '/usr/bin/redis-server',
  '/usr/local/bin/redis-server',
  '/opt/homebrew/bin/redis-server',
];

/** A real, throwaway Redis server on its own port. */
export async function startRedis(): Promise<RedisInstance> {
  if ((await resolveMode()) === 'containers') return startContainerRedis();
  const instance = new LocalRedis(findRedisServer());
  try {
    await instance.boot();
    return instance;
  } catch (error) {
    await instance.destroy().catch(() => undefined);
    throw error;
  }
}

function findRedisServer(): string {
  const fromEnv = process.env.FLOTILLA_REDIS_SERVER;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`FLOTILLA_REDIS_SERVER=${fromEnv} does not exist`);
    return fromEnv;
  }
  const found = REDIS_SERVER_CANDIDATES.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error(
      `No redis-server found (tried ${REDIS_SERVER_CANDIDATES.join(', ')}). ` +
        'Install it (e.g. apt-get install redis-server) or set FLOTILLA_REDIS_SERVER to its path.',
    );
  }
  return found;
}

class LocalRedis implements RedisInstance {
  readonly host = LOCALHOST;
  #port = 0;
  #dir: string | undefined;
  #server: ServerProcess | undefined;
  #destroyed: Promise<void> | undefined;
  readonly #serial = new Serial();
  readonly #untrack: () => void;

  constructor(private readonly redisServer: string) {
    this.#untrack = track(this);
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `redis://${this.host}:${this.#port}`;
  }

  async boot(): Promise<void> {
    this.#dir = await createTempDir('flotilla-redis-');
    for (let attempt = 1; ; attempt++) {
      this.#port = await freePort();
      this.#server = this.#createServer(this.#dir);
      try {
        await this.#launch();
        return;
      } catch (error) {
        // The port was only free when we probed it; another process may have bound it since.
        const raced = this.#server.outputTail().includes('Address already in use');
        if (!raced || attempt === PORT_ATTEMPTS) throw error;
      }
    }
  }

  #createServer(dir: string): ServerProcess {
    const args = [
      '--port',
      String(this.#port),
      '--bind',
      LOCALHOST,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
    ];
    return new ServerProcess(`Redis on port ${this.#port}`, { command: this.redisServer, args, cwd: dir });
  }

  async #launch(): Promise<void> {
    const server = this.#server;
    const dir = this.#dir;
    if (!server || !dir) throw new Error('Redis instance was not booted');
    server.spawn();
    // Redis rewrites its process title to "redis-server 127.0.0.1:PORT", which is what a sweep can recognize.
    if (server.pid !== undefined) {
      recordServer(dir, { pid: server.pid, marker: `${LOCALHOST}:${this.#port}`, signal: 'SIGKILL' });
    }
    try {
      await waitForReady({
        what: server.name,
        process: server,
        probe: () => redisAnswersPing(this.host, this.#port),
        timeoutMs: READY_TIMEOUT_MS,
      });
    } catch (error) {
      await server.stop('SIGKILL', STOP_GRACE_MS);
      throw error;
    }
  }

  stop(): Promise<void> {
    return this.#serial.run(async () => this.#server?.stop('SIGTERM', STOP_GRACE_MS));
  }

  crash(): Promise<void> {
    return this.#serial.run(async () => this.#server?.stop('SIGKILL', STOP_GRACE_MS));
  }

  start(): Promise<void> {
    return this.#serial.run(async () => {
      if (this.#destroyed) throw new Error('Redis instance has been destroyed');
      if (!this.#server?.running) await this.#launch();
    });
  }

  destroy(): Promise<void> {
    this.#destroyed ??= this.#serial.run(async () => {
      // Nothing is persisted, so a graceful shutdown would save nothing.
      await this.#server?.stop('SIGKILL', STOP_GRACE_MS);
      if (this.#dir) await removeDir(this.#dir);
      this.#untrack();
    });
    return this.#destroyed;
  }

  cleanupSync(): void {
    this.#server?.stopSync('SIGKILL', EXIT_GRACE_MS);
    if (this.#dir) removeDirSync(this.#dir);
  }
}
