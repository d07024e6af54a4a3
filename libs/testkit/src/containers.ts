import type { ContainerRuntimeClient, StartedTestContainer } from 'testcontainers';
import { freePort } from './net.js';
import { flushCommits, type PostgresInstance } from './postgres.js';
import {
  PG_ADMIN_PASSWORD as ADMIN_PASSWORD,
  PG_ADMIN_USER as ADMIN_USER,
  pgAcceptsConnections,
  postgresUrl,
  redisAnswersPing,
} from './probes.js';
import { waitForReady } from './processes.js';
import type { RedisInstance } from './redis.js';
import { Serial } from './serial.js';

// Containers are used only where a runtime is reachable; testcontainers' Ryuk sidecar removes them if we die.

const POSTGRES_IMAGE = 'postgres:17-alpine';
const REDIS_IMAGE = 'redis:7-alpine';
// Same trade as the local server: durability is pointless for throwaway data.
const POSTGRES_SETTINGS = ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=200'];
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * Runtime-level stop/start keeps the container (and its data) and, because the host port is pinned, its URL;
 * StartedTestContainer itself can only restart or stop-for-good.
 */
class ContainerLifecycle {
  readonly #serial = new Serial();
  #destroyed: Promise<void> | undefined;

  constructor(
    private readonly started: StartedTestContainer,
    private readonly runtime: ContainerRuntimeClient,
    private readonly ready: () => Promise<boolean>,
  ) {}

  stop(): Promise<void> {
    return this.#serial.run(() =>
      this.runtime.container.stop(this.runtime.container.getById(this.started.getId()), { timeout: STOP_TIMEOUT_MS }),
    );
  }

  /**
   * No grace period: the runtime sends SIGKILL at once, as a crashed node or an OOM kill would. PID 1 of the
   * container is the server itself, and all its processes die with the container, so none is orphaned.
   */
  crash(before?: () => Promise<void>): Promise<void> {
    return this.#serial.run(async () => {
      await before?.();
      await this.runtime.container.stop(this.runtime.container.getById(this.started.getId()), { timeout: 0 });
    });
  }

  start(): Promise<void> {
    return this.#serial.run(async () => {
      if (this.#destroyed) throw new Error('container has been destroyed');
      await this.runtime.container.start(this.runtime.container.getById(this.started.getId()));
      await waitForReady({ what: this.started.getName(), probe: this.ready, timeoutMs: READY_TIMEOUT_MS });
    });
  }

  destroy(): Promise<void> {
    this.#destroyed ??= this.#serial.run(async () => {
      await this.started.stop({ remove: true, removeVolumes: true });
    });
    return this.#destroyed;
  }
}

async function runtimeClient(): Promise<ContainerRuntimeClient> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  return getContainerRuntimeClient();
}

export async function startContainerPostgres(database: string): Promise<PostgresInstance> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const hostPort = await freePort();
  const started = await new PostgreSqlContainer(POSTGRES_IMAGE)
    .withDatabase(database)
    .withUsername(ADMIN_USER)
    .withPassword(ADMIN_PASSWORD)
    .withExposedPorts({ container: 5432, host: hostPort })
    .withCommand(['postgres', ...POSTGRES_SETTINGS.flatMap((setting) => ['-c', setting])])
    .start();
  const host = started.getHost();
  const port = started.getPort();
  const admin = { host, port, user: ADMIN_USER, password: ADMIN_PASSWORD, database: 'postgres' };
  const lifecycle = new ContainerLifecycle(started, await runtimeClient(), () => pgAcceptsConnections(admin));
  // Lost commits would be the testkit's synchronous_commit=off, not the crash a test is about (see flushCommits).
  const crash = () => lifecycle.crash(() => flushCommits(admin));
  const urlFor = (user: string, password: string, db = database) =>
    postgresUrl({ host, port, user, password, database: db });
  return {
    host,
    port,
    database,
    adminUser: ADMIN_USER,
    adminPassword: ADMIN_PASSWORD,
    url: urlFor(ADMIN_USER, ADMIN_PASSWORD),
    urlFor,
    stop: () => lifecycle.stop(),
    crash,
    start: () => lifecycle.start(),
    destroy: () => lifecycle.destroy(),
  };
}

export async function startContainerRedis(): Promise<RedisInstance> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const hostPort = await freePort();
  const started = await new RedisContainer(REDIS_IMAGE).withExposedPorts({ container: 6379, host: hostPort }).start();
  const host = started.getHost();
  const port = started.getPort();
  const lifecycle = new ContainerLifecycle(started, await runtimeClient(), () => redisAnswersPing(host, port));
  return {
    host,
    port,
    url: `redis://${host}:${port}`,
    stop: () => lifecycle.stop(),
    crash: () => lifecycle.crash(),
    start: () => lifecycle.start(),
    destroy: () => lifecycle.destroy(),
  };
}
