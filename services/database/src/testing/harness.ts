import { fileURLToPath } from 'node:url';
import { type RunningService, startService } from '@flotilla/runtime';
import { LOCAL_TEST_SERVER_ENV, type PostgresInstance, queryOnce, runSqlFile, startPostgres } from '@flotilla/testkit';
import type pg from 'pg';
import { databaseEnvironment } from '../config.js';
import { databaseService, setupDatabase } from '../server.js';

export const sqlFile = (name: string) => fileURLToPath(new URL(`../../sql/${name}`, import.meta.url));

export const RUNTIME_ROLE = 'flotilla_runtime';
export const RUNTIME_PASSWORD = 'runtime-password';

export interface TestDatabase {
  postgres: PostgresInstance;
  /** The server's login role, created by sql/runtime-role.sql: what every test server connects as. */
  runtimeUrl: string;
  /** One superuser connection per statement, so it survives tests that restart Postgres. */
  admin(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Starts a database server on this Postgres (HTTP on loopback, no auth unless `env` says otherwise). */
  startServer(env?: Record<string, string>): Promise<RunningService>;
  stop(): Promise<void>;
}

/**
 * A throwaway Postgres with the demo schema, `prepare` run as the superuser, and the runtime role
 * bootstrapped by the shipped SQL, plus servers that log in as that role, never as a superuser.
 */
export async function startTestDatabase(
  options: { prepare?: string; writableTables?: string; serverEnv?: Record<string, string> } = {},
): Promise<TestDatabase> {
  const postgres = await startPostgres();
  const services: RunningService[] = [];
  const admin = (sql: string, params: unknown[] = []) => queryOnce(postgres.url, sql, params);
  try {
    await runSqlFile(postgres.url, sqlFile('demo-schema.sql'));
    if (options.prepare) await admin(options.prepare);
    await runSqlFile(postgres.url, sqlFile('runtime-role.sql'), {
      role: RUNTIME_ROLE,
      password: RUNTIME_PASSWORD,
      database: postgres.database,
      schema: 'public',
      connection_limit: '20',
      writable_tables: options.writableTables ?? '',
    });
  } catch (error) {
    await postgres.destroy();
    throw error;
  }
  const runtimeUrl = postgres.urlFor(RUNTIME_ROLE, RUNTIME_PASSWORD);
  return {
    postgres,
    runtimeUrl,
    admin,
    async startServer(env = {}) {
      const service = await startService({
        definition: databaseService,
        environment: databaseEnvironment,
        setup: setupDatabase,
        transport: 'http',
        env: {
          ...LOCAL_TEST_SERVER_ENV,
          DATABASE_URL: runtimeUrl,
          DB_WRITABLE_TABLES: options.writableTables ?? '',
          ...options.serverEnv,
          ...env,
        },
      });
      services.push(service);
      return service;
    },
    async stop() {
      await Promise.all(services.map((service) => service.shutdown()));
      await postgres.destroy();
    },
  };
}

export { callTool, errorOf, resultOf, type ToolOutcome } from '@flotilla/testkit';
