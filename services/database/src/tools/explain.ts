import { z } from 'zod';
import { databaseTool, READ_ANNOTATIONS } from '../tool.js';
import { sqlParams } from './query.js';

export const explain = databaseTool({
  name: 'explain',
  title: 'Explain a query plan',
  description:
    "Shows PostgreSQL's plan for one read-only statement (EXPLAIN, FORMAT JSON) without running it: " +
    'which indexes it uses, join strategies and estimated rows and cost. Use it to check a query before running ' +
    'it on a large table. The same rules as the query tool apply to the statement.',
  scopes: ['db:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({
    sql: z.string().min(1).max(100_000).describe('One PostgreSQL SELECT statement, without EXPLAIN.'),
    params: sqlParams,
  }),
  output: z.object({
    plan: z.record(z.string(), z.unknown()).describe('The root plan node as PostgreSQL reports it.'),
  }),
  async handler({ sql, params }, { principal, signal, deps }) {
    return { plan: await deps.sql.explain(principal, signal, { sql, params: params ?? [] }) };
  },
});
