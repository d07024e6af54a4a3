import { createRequire } from 'node:module';
import { createDependencyPolicy } from '@flotilla/resilience';
import type { RuntimeConfig, ServiceDefinition, ServiceKit, ServiceParts } from '@flotilla/runtime';
import pg from 'pg';
import type { z } from 'zod';
import { Catalog } from './catalog.js';
import type { databaseEnvironment } from './config.js';
import { isTransientPgError } from './postgres/errors.js';
import { Querier } from './postgres/querier.js';
import { ReadOnlySql } from './read-only-sql.js';
import type { DatabaseDeps } from './tool.js';
import { describeTable } from './tools/describe_table.js';
import { explain } from './tools/explain.js';
import { listSchemas } from './tools/list_schemas.js';
import { listTables } from './tools/list_tables.js';
import { query } from './tools/query.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export type DatabaseConfig = RuntimeConfig & z.output<z.ZodObject<typeof databaseEnvironment>>;

/** Which tools the database server offers. Adding a tool is one file in tools/ and one line here. */
export const databaseService: ServiceDefinition<DatabaseDeps> = {
  name: 'database',
  version,
  title: 'Flotilla PostgreSQL',
  instructions:
    'Read-only access to a PostgreSQL database. Explore with list_schemas, list_tables and describe_table before ' +
    'writing SQL; run one SELECT per query call with values passed as params ($1, $2, …); check expensive ' +
    'queries with explain first. Results are capped: when truncated is true, filter or page instead of raising maxRows.',
  tools: [listSchemas, listTables, describeTable, query, explain],
};

/** Builds the database server's dependencies: one pool, one breaker, the catalog and the guarded SQL runner. */
export async function setupDatabase(kit: ServiceKit<DatabaseConfig>): Promise<ServiceParts<DatabaseDeps>> {
  const { config, logger, metrics } = kit;
  const pool = new pg.Pool({
    ...(config.DATABASE_URL ? { connectionString: config.DATABASE_URL } : {}),
    max: config.DB_POOL_MAX,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'flotilla-database',
  });
  // An idle client losing its connection must not crash the process; the next checkout reconnects.
  pool.on('error', (error) =>
    logger.warn({ err: { code: (error as { code?: string }).code } }, 'idle postgres client failed'),
  );
  const policy = createDependencyPolicy({
    name: 'postgres',
    isTransient: isTransientPgError,
    onCircuitChange: (open) => {
      metrics.circuitOpen.set({ dependency: 'postgres' }, open ? 1 : 0);
      logger.warn({ dependency: 'postgres', open }, open ? 'circuit opened' : 'circuit closed');
    },
  });
  metrics.circuitOpen.set({ dependency: 'postgres' }, 0);
  const querier = new Querier(pool, policy, {
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    allowedSchemas: config.DB_ALLOWED_SCHEMAS,
    tenantMode: config.DB_TENANT_MODE,
  });
  return {
    deps: {
      catalog: new Catalog(querier, config.DB_ALLOWED_SCHEMAS),
      sql: new ReadOnlySql(querier, {
        defaultRows: Math.min(100, config.DB_MAX_ROWS),
        maxRows: config.DB_MAX_ROWS,
        maxBytes: config.DB_MAX_RESULT_BYTES,
      }),
      defaultSchema: config.DB_ALLOWED_SCHEMAS[0] ?? 'public',
    },
    dependencies: [{ name: 'postgres', required: true, check: (signal) => querier.ping(signal) }],
    close: () => pool.end(),
  };
}
