import { createRequire } from 'node:module';
import { createDependencyPolicy, isTransientPostgresError } from '@flotilla/resilience';
import {
  BatchSweep,
  type RuntimeConfig,
  type ServiceDefinition,
  type ServiceKit,
  type ServiceParts,
} from '@flotilla/runtime';
import pg from 'pg';
import type { z } from 'zod';
import { Catalog } from './catalog.js';
import type { databaseEnvironment } from './config.js';
import { createIdempotencySweepMetrics } from './metrics.js';
import { Querier } from './postgres/querier.js';
import { exploreSchema } from './prompts/explore_schema.js';
import { ReadOnlySql } from './read-only-sql.js';
import { tables } from './resources/tables.js';
import { SchemaCache } from './schema-cache.js';
import type { DatabaseDeps } from './tool.js';
import { deleteRows } from './tools/delete_rows.js';
import { describeTable } from './tools/describe_table.js';
import { explain } from './tools/explain.js';
import { insertRows } from './tools/insert_rows.js';
import { listSchemas } from './tools/list_schemas.js';
import { listTables } from './tools/list_tables.js';
import { query } from './tools/query.js';
import { updateRows } from './tools/update_rows.js';
import { IdempotencyRecords } from './writes/idempotency.js';
import { deleteExpiredKeys, sweepFunctionHint } from './writes/idempotency-sweep.js';
import { TableWriter } from './writes/table-writer.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export type DatabaseConfig = RuntimeConfig & z.output<z.ZodObject<typeof databaseEnvironment>>;

/** Which tools the database server offers. Adding a tool is one file in tools/ and one line here. */
export const databaseService: ServiceDefinition<DatabaseDeps> = {
  name: 'database',
  version,
  title: 'Flotilla PostgreSQL',
  instructions:
    'Access to a PostgreSQL database. Explore with list_schemas, list_tables and describe_table before ' +
    'writing SQL; run one SELECT per query call with values passed as params ($1, $2, …); check expensive ' +
    'queries with explain first. Results are capped: when truncated is true, filter or page instead of raising ' +
    'maxRows. Where writes are enabled, change rows only with insert_rows, update_rows and delete_rows, filtering ' +
    'on the primary key, with expectedCount and an idempotencyKey.',
  tools: [listSchemas, listTables, describeTable, query, explain, insertRows, updateRows, deleteRows],
  resources: [tables],
  prompts: [exploreSchema],
};

/** Builds the database server's dependencies: one pool, one breaker, the cached catalog, guarded SQL and the writer. */
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
  // The pool listens only while a client is idle: one checked out when its connection dies (a Postgres crash or
  // restart) emits 'error' to nobody, which throws and ends the process. Its query fails on its own, and the holder
  // discards it; this listener only keeps the event from being fatal.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const policy = createDependencyPolicy({
    name: 'postgres',
    isTransient: isTransientPostgresError,
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
  const defaultSchema = config.DB_ALLOWED_SCHEMAS[0] ?? 'public';
  const cache = new SchemaCache({
    ttlSeconds: config.DB_SCHEMA_CACHE_TTL_SECONDS,
    // What a caller may see depends on the login role, so replicas logging in as different roles never share entries.
    role: new pg.Client(config.DATABASE_URL ? { connectionString: config.DATABASE_URL } : {}).user ?? '',
    redis: kit.redis,
  });
  const catalog = new Catalog(querier, config.DB_ALLOWED_SCHEMAS, cache);
  const writesOff = 'no table is writable on this server (DB_WRITABLE_TABLES is empty).';
  // Without writable tables there are no idempotency records (runtime-role.sql creates them only then).
  const sweep =
    config.DB_WRITABLE_TABLES.length > 0
      ? new BatchSweep({
          name: 'idempotency sweep',
          deleteBatch: (limit) => deleteExpiredKeys(pool, limit, config.DB_STATEMENT_TIMEOUT_MS),
          metrics: createIdempotencySweepMetrics(metrics.registry),
          logger,
          intervalMs: config.DB_IDEMPOTENCY_SWEEP_MS,
          hintFor: sweepFunctionHint,
        })
      : undefined;
  sweep?.start();
  return {
    deps: {
      catalog,
      sql: new ReadOnlySql(querier, {
        defaultRows: Math.min(100, config.DB_MAX_ROWS),
        maxRows: config.DB_MAX_ROWS,
        maxBytes: config.DB_MAX_RESULT_BYTES,
      }),
      writer: new TableWriter(querier, catalog, new IdempotencyRecords(), {
        writableTables: config.DB_WRITABLE_TABLES,
        defaultSchema,
        maxRows: config.DB_MAX_ROWS,
      }),
      defaultSchema,
    },
    unavailableTools:
      config.DB_WRITABLE_TABLES.length === 0
        ? { insert_rows: writesOff, update_rows: writesOff, delete_rows: writesOff }
        : {},
    dependencies: [{ name: 'postgres', required: true, check: (signal) => querier.ping(signal) }],
    close: async () => {
      await sweep?.stop();
      await pool.end();
    },
  };
}
