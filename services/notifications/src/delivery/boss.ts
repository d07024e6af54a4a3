import type { Logger } from '@flotilla/telemetry';
import { type Job, PgBoss } from 'pg-boss';
import { DELIVERY_QUEUE, type DeliveryJob, QUEUE_SCHEMA } from './queue.js';

/**
 * How often one replica checks for jobs whose worker died (and hands them on), refreshes the queue
 * statistics and sweeps old jobs. The job table stays small (finished jobs go after a day), so
 * checking often is cheap, and it bounds how long a crash delays a delivery.
 */
const SUPERVISE_SECONDS = 5;

export interface BossOptions {
  connectionString: string;
  /**
   * Only replicas that run workers supervise (expiring a dead worker's jobs is their concern) and
   * listen for new jobs.
   */
  runsWorkers: boolean;
  poolMax: number;
  logger: Logger;
}

/**
 * pg-boss as the runtime role runs it: it never installs or migrates its schema (`--migrate` does,
 * as the migration role), never runs DDL such as REINDEX, and runs no cron schedules.
 */
export function createBoss(options: BossOptions): PgBoss {
  const boss = new PgBoss({
    connectionString: options.connectionString,
    schema: QUEUE_SCHEMA,
    application_name: 'flotilla-notifications-queue',
    max: options.poolMax,
    connectionTimeoutMillis: 3000,
    migrate: false,
    createSchema: false,
    schedule: false,
    supervise: options.runsWorkers,
    reindex: false,
    superviseIntervalSeconds: SUPERVISE_SECONDS,
    monitorIntervalSeconds: SUPERVISE_SECONDS,
    queueCacheIntervalSeconds: SUPERVISE_SECONDS,
    maintenanceIntervalSeconds: 300,
    // New jobs wake idle workers at once; polling stays as the backstop and picks up retries when due.
    useListenNotify: options.runsWorkers,
  });
  boss.on('error', (error) => options.logger.warn({ err: error }, 'delivery queue error'));
  boss.on('warning', (warning) => options.logger.warn({ warning: warning.message }, 'delivery queue warning'));
  return boss;
}

/** Starts pg-boss, refusing to run against a database `--migrate` has not prepared. */
export async function startBoss(boss: PgBoss): Promise<void> {
  try {
    await boss.start();
  } catch (error) {
    const message = (error as Error).message;
    if (/not installed|requires migrations/.test(message)) {
      throw new Error(
        `the delivery queue schema is ${message.replace('pg-boss ', '')}: run flotilla-notifications --migrate first`,
      );
    }
    throw error;
  }
  if (!(await boss.getQueue(DELIVERY_QUEUE))) {
    throw new Error(
      `the delivery queue "${DELIVERY_QUEUE}" does not exist: run flotilla-notifications --migrate first`,
    );
  }
}

export interface WorkerOptions {
  concurrency: number;
  /** A worker whose last fetch is older than this, while it holds no job, is presumed stuck. */
  staleAfterMs: number;
}

/** This replica's delivery workers, and whether they are still fetching. */
export class DeliveryWorkers {
  constructor(
    private readonly boss: PgBoss,
    private readonly options: WorkerOptions,
  ) {}

  async start(run: (job: Job<DeliveryJob>) => Promise<void>): Promise<void> {
    await this.boss.work<DeliveryJob>(
      DELIVERY_QUEUE,
      {
        localConcurrency: this.options.concurrency,
        // pg-boss's floor: a retry or scheduled send that falls due waits at most this long.
        pollingIntervalSeconds: 0.5,
        notifyPollingIntervalSeconds: 0.5,
        // While a backlog larger than the worker count waits, fetch again at once instead of pausing.
        burstWhenReadyExceeds: this.options.concurrency,
      },
      async (jobs) => {
        for (const job of jobs) await run(job);
      },
    );
  }

  /** For /readyz: every worker is running, and each is either busy or has fetched recently. */
  check(): void {
    const workers = this.boss.getWipData().filter((worker) => worker.name === DELIVERY_QUEUE);
    const running = workers.filter((worker) => worker.state === 'active');
    if (running.length < this.options.concurrency) {
      throw new Error(`${running.length} of ${this.options.concurrency} delivery workers are running`);
    }
    const now = Date.now();
    const stuck = running.filter(
      (worker) => worker.count === 0 && now - (worker.lastFetchedOn ?? worker.createdOn) > this.options.staleAfterMs,
    );
    if (stuck.length > 0) throw new Error(`${stuck.length} delivery workers have not fetched jobs lately`);
  }
}
