/**
 * The floor, as its own process (started by floor.ts with an IPC channel): what accepting a
 * notification durably costs in Node.js at the least. `concurrency` loops each run, back to back,
 *
 *   BEGIN; INSERT INTO bench_floor.notification … ON CONFLICT DO NOTHING RETURNING id; pg-boss send; COMMIT
 *
 * on a `pg` Pool, the row like the server's (same table definition, same values) and the job sent
 * with the server's own queue options inside the transaction, as the server's store does. No HTTP,
 * no MCP, no auth, no idempotency lookup before the insert, no delivery workers.
 *
 * Environment: DATABASE_URL (the floor role), POOL_SIZE, FLOOR_SCHEMA, QUEUE_SCHEMA, EXPIRE_IN_SECONDS.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createHistogram, performance } from 'node:perf_hooks';
import pg from 'pg';
import { type Db, PgBoss } from 'pg-boss';
import { DELIVERY_QUEUE, DELIVERY_QUEUE_OPTIONS } from '../../services/notifications/dist/delivery/queue.js';
import type { FloorReply, FloorRequest } from './floor.ts';
import { CHANNEL, MESSAGE, TENANT } from './notification.ts';

const { DATABASE_URL, POOL_SIZE, FLOOR_SCHEMA, QUEUE_SCHEMA, EXPIRE_IN_SECONDS } = process.env;
if (!DATABASE_URL || !POOL_SIZE || !FLOOR_SCHEMA || !QUEUE_SCHEMA || !EXPIRE_IN_SECONDS || !process.send) {
  process.stderr.write('floor-loop: needs its environment and an IPC channel (start it with floor.ts)\n');
  process.exit(1);
}
const send = process.send.bind(process);

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: Number(POOL_SIZE), application_name: 'bench-floor' });
const boss = new PgBoss({
  connectionString: DATABASE_URL,
  schema: QUEUE_SCHEMA,
  application_name: 'bench-floor-queue',
  max: 2,
  migrate: false,
  createSchema: false,
  supervise: false,
  schedule: false,
});
boss.on('error', (error) => process.stderr.write(`floor-loop: pg-boss: ${error.message}\n`));

const INSERT = `
  INSERT INTO ${pg.escapeIdentifier(FLOOR_SCHEMA)}.notification
    (id, tenant, idempotency_key, fingerprint, created_by, channel, recipients, subject, body, severity,
     status, job_id, send_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', $11, now())
  ON CONFLICT ON CONSTRAINT notification_idempotency DO NOTHING
  RETURNING id`;

async function acceptOne(key: string): Promise<void> {
  const id = randomUUID();
  const jobId = randomUUID();
  // The server fingerprints the request's content the same way (sha256 of its JSON).
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([CHANNEL, [], null, MESSAGE, 'info', null]))
    .digest('hex');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const inserted = await client.query(INSERT, [
      id,
      TENANT,
      key,
      fingerprint,
      TENANT,
      CHANNEL,
      [],
      null,
      MESSAGE,
      'info',
      jobId,
    ]);
    if (inserted.rowCount !== 1) throw new Error(`idempotency key ${key} was already used`);
    const db: Db = { executeSql: (text, values) => client.query(text, values as unknown[]) };
    await boss.send(
      DELIVERY_QUEUE,
      { notificationId: id },
      { ...DELIVERY_QUEUE_OPTIONS, id: jobId, expireInSeconds: Number(EXPIRE_IN_SECONDS), db },
    );
    await client.query('COMMIT');
    client.release();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(true);
    throw error;
  }
}

async function run(request: Extract<FloorRequest, { type: 'run' }>): Promise<FloorReply> {
  const latencies = createHistogram();
  let accepts = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  const deadline = started + request.seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      try {
        await acceptOne(`${request.keyPrefix}-${next++}`);
        latencies.record(Math.max(1, Math.round((performance.now() - begun) * 1000)));
        accepts += 1;
      } catch (error) {
        errors += 1;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: request.concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  const ms = (micros: number) => Math.round(micros) / 1000;
  return {
    type: 'result',
    accepts,
    seconds,
    latencyMs: {
      mean: ms(latencies.mean),
      p50: ms(latencies.percentile(50)),
      p99: ms(latencies.percentile(99)),
      max: ms(latencies.max),
    },
    errors,
    firstError,
  };
}

process.on('message', (message: FloorRequest) => {
  if (message.type === 'run') {
    run(message).then(send, (error: Error) => send({ type: 'failed', message: error.message } satisfies FloorReply));
  }
});
process.on('disconnect', () => {
  void Promise.allSettled([boss.stop({ graceful: false }), pool.end()]).then(() => process.exit(0));
});

await boss.start();
send({ type: 'ready' } satisfies FloorReply);
