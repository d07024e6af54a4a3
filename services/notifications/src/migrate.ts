import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createLogger } from '@flotilla/telemetry';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { z } from 'zod';
import { migrationEnvironment } from './config.js';
import { DELIVERY_QUEUE, DELIVERY_QUEUE_OPTIONS, QUEUE_SCHEMA } from './delivery/queue.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
const SCHEMA_SQL = new URL('../sql/schema.sql', import.meta.url);

/**
 * Brings the server's schemas up to date as the migration role: its own tables (sql/schema.sql),
 * then pg-boss's install or upgrade and the delivery queue. Safe to run again and from several
 * processes at once; the runtime role never runs any of it.
 */
export async function migrate(connectionString: string): Promise<void> {
  const client = new pg.Client({ connectionString, application_name: 'flotilla-notifications-migrate' });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('flotilla-notifications:migrate'))`);
    await client.query(await readFile(SCHEMA_SQL, 'utf8'));
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }

  await installDeliveryQueue(connectionString);
}

/**
 * pg-boss's install or upgrade in `schema` (which its owner, the connecting role, already has) and
 * the delivery queue with the server's options. Part of `migrate`; the notifications benchmark's
 * floor installs its own queue the same way in a schema of its own.
 */
export async function installDeliveryQueue(connectionString: string, schema: string = QUEUE_SCHEMA): Promise<void> {
  const boss = new PgBoss({
    connectionString,
    schema,
    application_name: 'flotilla-notifications-migrate',
    max: 2,
    // The migration role owns the schema but may not create schemas (migration-role.sql creates it).
    createSchema: false,
    supervise: false,
    schedule: false,
  });
  let failure: Error | undefined;
  boss.on('error', (error) => {
    failure ??= error;
  });
  await boss.start();
  try {
    const options = { ...DELIVERY_QUEUE_OPTIONS, notify: true };
    if (await boss.getQueue(DELIVERY_QUEUE)) await boss.updateQueue(DELIVERY_QUEUE, options);
    else await boss.createQueue(DELIVERY_QUEUE, options);
  } finally {
    await boss.stop({ graceful: false });
  }
  if (failure) throw failure;
}

/** `flotilla-notifications --migrate`: the entry point of the Helm hook Job. Exits 0 when done. */
export async function runMigrations(env: NodeJS.ProcessEnv = process.env): Promise<never> {
  const parsed = z.object(migrationEnvironment).safeParse(env);
  if (!parsed.success) {
    process.stderr.write(`flotilla-notifications: invalid configuration:\n${z.prettifyError(parsed.error)}\n`);
    process.exit(1);
  }
  const logger = createLogger({ service: 'flotilla-notifications', version, level: 'info' });
  try {
    await migrate(parsed.data.DATABASE_MIGRATION_URL);
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    process.stderr.write(`flotilla-notifications: migration failed: ${message ?? error}${code ? ` (${code})` : ''}\n`);
    process.exit(1);
  }
  logger.info({ schemas: ['notifications', QUEUE_SCHEMA] }, 'migrations applied');
  process.exit(0);
}
