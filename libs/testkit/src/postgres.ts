import { join } from 'node:path';
import { createTempDir, recordServer, removeDir, removeDirSync, track } from './cleanup.js';
import { startContainerPostgres } from './containers.js';
import { resolveMode } from './mode.js';
import { freePort, LOCALHOST } from './net.js';
import { binariesRunnableBy } from './pg-binary-copy.js';
import { createCluster, findPostgresBinaries, type PostgresBinaries, serverUser } from './pg-cluster.js';
import {
  PG_ADMIN_PASSWORD as ADMIN_PASSWORD,
  PG_ADMIN_USER as ADMIN_USER,
  type PgTarget,
  pgAcceptsConnections,
  postgresUrl,
  quoteIdentifier,
  withPgClient,
} from './probes.js';
import { type RunAs, ServerProcess, waitForReady } from './processes.js';
import { Serial } from './serial.js';

export interface PostgresInstance {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** Superuser. */
  readonly adminUser: string;
  readonly adminPassword: string;
  /** Superuser URL of `database`. */
  readonly url: string;
  urlFor(user: string, password: string, database?: string): string;
  /** Stops the server but keeps its data and port, to simulate an outage. */
  stop(): Promise<void>;
  /**
   * Ends the server abruptly (every connection dies at once, nothing is checkpointed) but keeps its data and port, to
   * simulate a crash; `start()` then runs crash recovery.
   */
  crash(): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops the server and deletes everything; idempotent. */
  destroy(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Created on startup; defaults to 'flotilla'. */
  readonly database?: string;
}

const DEFAULT_DATABASE = 'flotilla';
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 30_000;
const DESTROY_GRACE_MS = 5_000;
const EXIT_GRACE_MS = 2_000;
const PORT_ATTEMPTS = 3;
// Durability is pointless for throwaway data and costs most of the per-test write latency.
const SERVER_SETTINGS = [
  `listen_addresses=${LOCALHOST}`,
  'fsync=off',
  'synchronous_commit=off',
  'full_page_writes=off',
  'max_connections=200',
];

/**
 * Writes every commit so far to the WAL file. The servers run with synchronous_commit=off, whose commits reach it up
 * to three wal_writer_delays later, so a crash would lose what committed in that window: a real server with the
 * default synchronous_commit=on keeps it, and a test of "accepted before the outage" must not lose it either. A
 * synchronous commit flushes the WAL up to its own commit record, so every earlier commit too, but only when the
 * transaction wrote WAL itself (an xid alone does not count): a transactional logical message is the smallest write.
 */
export async function flushCommits(target: PgTarget): Promise<void> {
  await withPgClient(target, (client) =>
    client.query(
      "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_logical_emit_message(true, 'flotilla-testkit', 'crash'); COMMIT",
    ),
  );
}

/** A real, throwaway PostgreSQL server with its own data directory and port. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresInstance> {
  const database = options.database ?? DEFAULT_DATABASE;
  if ((await resolveMode()) === 'containers') return startContainerPostgres(database);
  const runAs = serverUser();
  const instance = new LocalPostgres(await binariesRunnableBy(findPostgresBinaries(), runAs), runAs, database);
  try {
    await instance.boot();
    return instance;
  } catch (error) {
    await instance.destroy().catch(() => undefined);
    throw error;
  }
}

class LocalPostgres implements PostgresInstance {
  readonly host = LOCALHOST;
  readonly adminUser = ADMIN_USER;
  readonly adminPassword = ADMIN_PASSWORD;
  #port = 0;
  #dir: string | undefined;
  #server: ServerProcess | undefined;
  #destroyed: Promise<void> | undefined;
  readonly #serial = new Serial();
  readonly #untrack: () => void;

  constructor(
    private readonly binaries: PostgresBinaries,
    private readonly runAs: RunAs | undefined,
    readonly database: string,
  ) {
    this.#untrack = track(this);
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return this.urlFor(ADMIN_USER, ADMIN_PASSWORD);
  }

  urlFor(user: string, password: string, database: string = this.database): string {
    return postgresUrl({ host: this.host, port: this.#port, user, password, database });
  }

  #admin(database = 'postgres'): PgTarget {
    return { host: this.host, port: this.#port, user: ADMIN_USER, password: ADMIN_PASSWORD, database };
  }

  async boot(): Promise<void> {
    const dir = await createTempDir('flotilla-pg-', this.runAs);
    this.#dir = dir;
    await createCluster(this.binaries, dir, this.runAs);
    await this.#launchOnFreePort(dir);
    if (this.database !== 'postgres') {
      await withPgClient(this.#admin(), (client) => client.query(`CREATE DATABASE ${quoteIdentifier(this.database)}`));
    }
  }

  async #launchOnFreePort(dir: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.#port = await freePort();
      this.#server = this.#createServer(dir);
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
      '-D',
      join(dir, 'data'),
      '-p',
      String(this.#port),
      '-k',
      dir,
      ...SERVER_SETTINGS.flatMap((setting) => ['-c', setting]),
    ];
    return new ServerProcess(`PostgreSQL on port ${this.#port}`, {
      command: this.binaries.postgres,
      args,
      cwd: dir,
      runAs: this.runAs,
    });
  }

  async #launch(): Promise<void> {
    const server = this.#server;
    const dir = this.#dir;
    if (!server || !dir) throw new Error('PostgreSQL instance was not booted');
    server.spawn();
    if (server.pid !== undefined) recordServer(dir, { pid: server.pid, marker: join(dir, 'data'), signal: 'SIGQUIT' });
    try {
      await waitForReady({
        what: server.name,
        process: server,
        probe: () => pgAcceptsConnections(this.#admin()),
        timeoutMs: READY_TIMEOUT_MS,
      });
    } catch (error) {
      await server.stop('SIGQUIT', DESTROY_GRACE_MS);
      throw error;
    }
  }

  stop(): Promise<void> {
    // SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, data is kept consistent.
    return this.#serial.run(async () => this.#server?.stop('SIGINT', STOP_GRACE_MS));
  }

  crash(): Promise<void> {
    // SIGQUIT is PostgreSQL's "immediate" shutdown: the postmaster SIGQUITs every backend, which dies at once without
    // a checkpoint, and the next start runs crash recovery, as after a real crash. SIGKILL would kill the postmaster
    // alone and orphan its backends, which keep their connections and shared memory and block a restart on the port.
    return this.#serial.run(async () => {
      if (!this.#server?.running) return;
      await flushCommits(this.#admin());
      await this.#server.stop('SIGQUIT', DESTROY_GRACE_MS);
    });
  }

  start(): Promise<void> {
    return this.#serial.run(async () => {
      if (this.#destroyed) throw new Error('PostgreSQL instance has been destroyed');
      if (!this.#server?.running) await this.#launch();
    });
  }

  destroy(): Promise<void> {
    this.#destroyed ??= this.#serial.run(async () => {
      // SIGQUIT ("immediate" shutdown) is fastest and still releases shared memory; the data is deleted anyway.
      await this.#server?.stop('SIGQUIT', DESTROY_GRACE_MS);
      if (this.#dir) await removeDir(this.#dir);
      this.#untrack();
    });
    return this.#destroyed;
  }

  cleanupSync(): void {
    this.#server?.stopSync('SIGQUIT', EXIT_GRACE_MS);
    if (this.#dir) removeDirSync(this.#dir);
  }
}
