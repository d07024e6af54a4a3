import { env } from '@flotilla/runtime';
import { z } from 'zod';

/** The database server's own variables (SPEC §8), on top of the runtime's. */
export const databaseEnvironment = {
  /** Or the standard PG* variables, which `pg` reads itself. */
  DATABASE_URL: z.string().optional(),
  DB_POOL_MAX: env.positiveInt(10),
  DB_STATEMENT_TIMEOUT_MS: env.positiveInt(10_000),
  DB_MAX_ROWS: env.positiveInt(1000),
  DB_MAX_RESULT_BYTES: env.positiveInt(1024 * 1024),
  DB_ALLOWED_SCHEMAS: env.list.transform((schemas) => (schemas.length > 0 ? schemas : ['public'])),
  DB_WRITABLE_TABLES: env.list,
  DB_TENANT_MODE: z.enum(['none', 'rls']).default('none'),
};
