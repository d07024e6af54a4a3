import { z } from 'zod';
import { databaseTool, READ_ANNOTATIONS } from '../tool.js';

export const sqlParams = z
  .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
  .max(100)
  .optional()
  .describe('Values for $1, $2, … in the SQL. Always pass user-supplied values here, never inside the SQL text.');

export const query = databaseTool({
  name: 'query',
  title: 'Run a read-only SQL query',
  description:
    'Runs exactly one read-only SQL statement (SELECT, WITH … SELECT, VALUES, TABLE) and returns the rows as JSON. ' +
    'Writes, transaction control, row locks, SELECT INTO, COPY and server-side functions such as set_config or ' +
    'pg_read_file are refused. Results are capped by maxRows (default 100) and by size; `truncated: true` means ' +
    'there were more rows: add filters, aggregate, or use ORDER BY with LIMIT/OFFSET to page.',
  scopes: ['db:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({
    sql: z.string().min(1).max(100_000).describe('One PostgreSQL SELECT statement. Use $1, $2, … for values.'),
    params: sqlParams,
    maxRows: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .optional()
      .describe('Row cap (default 100; the server caps it at DB_MAX_ROWS).'),
  }),
  output: z.object({
    columns: z.array(z.object({ name: z.string(), type: z.string() })),
    rows: z.array(z.record(z.string(), z.unknown())),
    rowCount: z.number().int(),
    truncated: z.boolean(),
    durationMs: z.number(),
  }),
  async handler({ sql, params, maxRows }, { principal, signal, deps }) {
    return deps.sql.select(principal, signal, { sql, params: params ?? [], maxRows });
  },
});
