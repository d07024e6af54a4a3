import { env } from '@flotilla/runtime';
import { z } from 'zod';

/** `table` or `schema.table`, plain lower-case identifiers as Postgres folds them. */
const QUALIFIED_NAME = /^(?:[a-z_][a-z0-9_$]*\.)?[a-z_][a-z0-9_$]*$/;

/** The database server's own variables (SPEC §8), on top of the runtime's. */
export const databaseEnvironment = {
  /** Or the standard PG* variables, which `pg` reads itself. */
  DATABASE_URL: z.string().optional(),
  DB_POOL_MAX: env.positiveInt(10),
  DB_STATEMENT_TIMEOUT_MS: env.positiveInt(10_000),
  DB_MAX_ROWS: env.positiveInt(1000),
  DB_MAX_RESULT_BYTES: env.positiveInt(1024 * 1024),
  DB_ALLOWED_SCHEMAS: env.list.transform((schemas) => (schemas.length > 0 ? schemas : ['public'])),
  /** Tables the write tools may change; empty leaves insert_rows, update_rows and delete_rows off. */
  DB_WRITABLE_TABLES: env.list.pipe(
    z.array(
      z.string().regex(QUALIFIED_NAME, 'each entry must be table or schema.table (lower-case, unquoted identifiers)'),
    ),
  ),
  DB_TENANT_MODE: z.enum(['none', 'rls']).default('none'),
  /** With writes enabled: how often each replica deletes expired idempotency records (in batches). */
  DB_IDEMPOTENCY_SWEEP_MS: env.positiveInt(10 * 60_000),
  /** How long list_tables/describe_table answers are reused (Redis when REDIS_URL is set); 0 turns the cache off. */
  DB_SCHEMA_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
};
