import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { NOTIFICATIONS_ROLES, type PostgresInstance, prepareNotificationsDatabase, queryOnce } from '@flotilla/testkit';
import pg from 'pg';
import { installDeliveryQueue } from '../../services/notifications/dist/migrate.js';

const SQL_DIR = new URL('../../services/notifications/sql/', import.meta.url);
export const NOTIFICATIONS_MAIN = fileURLToPath(new URL('../../services/notifications/dist/main.js', import.meta.url));

export const RUNTIME_ROLE = NOTIFICATIONS_ROLES.runtime.name;

/** The floor's own role and schemas: the same table as the server's, and a pg-boss beside it. */
export const FLOOR_ROLE = 'bench_floor';
const FLOOR_PASSWORD = 'floor-bench-password';
export const FLOOR_SCHEMA = 'bench_floor';
export const FLOOR_QUEUE_SCHEMA = 'bench_floor_queue';

export interface Database {
  /** The server's least-privilege runtime role (sql/runtime-role.sql). */
  readonly runtimeUrl: string;
  /** The floor's role, owner of its two schemas. */
  readonly floorUrl: string;
  readonly postgresVersion: string;
  readonly pgBossVersion: string;
  /** The server settings each role's sessions run with, as Postgres reports them. */
  readonly sessionSettings: Readonly<Record<string, string>>;
}

/**
 * Prepares the database the way an operator does (README "Postgres: two roles, two schemas"): the
 * shipped migration-role.sql and runtime-role.sql as the superuser, then `flotilla-notifications
 * --migrate` as the migration role; the server then logs in as the runtime role only. The floor gets
 * a role of its own owning a copy of the server's table (sql/schema.sql in another schema, so the same
 * columns, constraint and indexes) and its own pg-boss schema with the delivery queue's options.
 */
export async function prepareDatabase(
  postgres: PostgresInstance,
  options: { connectionLimit: number; synchronousCommit: boolean },
): Promise<Database> {
  const { runtimeUrl } = await prepareNotificationsDatabase(postgres, { connectionLimit: options.connectionLimit });

  const role = pg.escapeIdentifier(FLOOR_ROLE);
  await queryOnce(
    postgres.url,
    `CREATE ROLE ${role} LOGIN PASSWORD ${pg.escapeLiteral(FLOOR_PASSWORD)} NOSUPERUSER NOCREATEDB NOCREATEROLE
       CONNECTION LIMIT ${options.connectionLimit};
     GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(postgres.database)} TO ${role};
     CREATE SCHEMA ${pg.escapeIdentifier(FLOOR_SCHEMA)} AUTHORIZATION ${role};
     CREATE SCHEMA ${pg.escapeIdentifier(FLOOR_QUEUE_SCHEMA)} AUTHORIZATION ${role};`,
  );
  const floorUrl = postgres.urlFor(FLOOR_ROLE, FLOOR_PASSWORD);
  const schema = await readFile(sqlFile('schema.sql'), 'utf8');
  await queryOnce(floorUrl, schema.replace(/\bnotifications\./g, `${FLOOR_SCHEMA}.`));
  // pg-boss and the delivery queue, installed by the floor's role as `--migrate` installs the server's.
  await installDeliveryQueue(floorUrl, FLOOR_QUEUE_SCHEMA);

  if (options.synchronousCommit) {
    // Each role's new sessions commit synchronously; the cluster itself keeps the test kit's settings.
    for (const name of [RUNTIME_ROLE, FLOOR_ROLE]) {
      await queryOnce(postgres.url, `ALTER ROLE ${pg.escapeIdentifier(name)} SET synchronous_commit = on`);
    }
  }
  const version = await queryOnce(postgres.url, 'SHOW server_version');
  const settings = await queryOnce(
    runtimeUrl,
    `SELECT name, setting FROM pg_settings
      WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'max_connections', 'shared_buffers')`,
  );
  return {
    runtimeUrl,
    floorUrl,
    postgresVersion: String(version.rows[0]?.server_version ?? 'unknown'),
    pgBossVersion: (createRequire(import.meta.url)('pg-boss/package.json') as { version: string }).version,
    sessionSettings: Object.fromEntries(settings.rows.map((row) => [row.name, row.setting])),
  };
}

function sqlFile(name: string): string {
  return fileURLToPath(new URL(name, SQL_DIR));
}
