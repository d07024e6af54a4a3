import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PostgresInstance } from './postgres.js';
import { queryOnce, runSqlFile } from './sql-file.js';

const repo = (relative: string) => fileURLToPath(new URL(`../../../${relative}`, import.meta.url));

/** The roles the notifications server's shipped scripts create, and the passwords this kit gives them. */
export const NOTIFICATIONS_ROLES = {
  runtime: { name: 'flotilla_notifications', password: 'notifications-runtime-password' },
  migration: { name: 'flotilla_notifications_migrator', password: 'notifications-migration-password' },
} as const;

export interface NotificationsDatabase {
  readonly database: string;
  /** What the server logs in as (DATABASE_URL). */
  readonly runtimeUrl: string;
  /** What `--migrate` runs as (DATABASE_MIGRATION_URL). */
  readonly migrationUrl: string;
}

/**
 * The notifications server's database as an operator prepares it: `migration-role.sql` and
 * `runtime-role.sql` as the superuser, then the migration as the migration role, by default the
 * built server's own `--migrate` (services/notifications/dist/main.js). `database` is created first
 * when given; otherwise the cluster's own database is used. The one way the tests, `npm start` and
 * the benchmarks set it up.
 */
export async function prepareNotificationsDatabase(
  postgres: PostgresInstance,
  options: {
    connectionLimit: number;
    database?: string;
    /** Runs the migration with this URL; the service's own tests migrate in-process, without a build. */
    migrate?: (migrationUrl: string) => Promise<void>;
  },
): Promise<NotificationsDatabase> {
  const database = options.database ?? postgres.database;
  if (options.database !== undefined) await queryOnce(postgres.url, `CREATE DATABASE "${database}"`);
  const adminUrl = postgres.urlFor(postgres.adminUser, postgres.adminPassword, database);
  const { runtime, migration } = NOTIFICATIONS_ROLES;
  await runSqlFile(adminUrl, repo('services/notifications/sql/migration-role.sql'), {
    role: migration.name,
    password: migration.password,
    database,
  });
  await runSqlFile(adminUrl, repo('services/notifications/sql/runtime-role.sql'), {
    role: runtime.name,
    password: runtime.password,
    database,
    migration_role: migration.name,
    connection_limit: String(options.connectionLimit),
  });
  const migrationUrl = postgres.urlFor(migration.name, migration.password, database);
  await (options.migrate ?? migrateWithBuiltServer)(migrationUrl);
  return { database, runtimeUrl: postgres.urlFor(runtime.name, runtime.password, database), migrationUrl };
}

async function migrateWithBuiltServer(migrationUrl: string): Promise<void> {
  await promisify(execFile)(process.execPath, [repo('services/notifications/dist/main.js'), '--migrate'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', DATABASE_MIGRATION_URL: migrationUrl },
  });
}
