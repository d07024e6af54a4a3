import { z } from 'zod';
import { databaseTool, READ_ANNOTATIONS } from '../tool.js';

export const listTables = databaseTool({
  name: 'list_tables',
  title: 'List tables',
  description:
    'Lists the tables and views this server may read, with their comments and estimated row counts. ' +
    'Pass a schema to narrow the list; call describe_table for columns and keys.',
  scopes: ['db:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({
    schema: z.string().min(1).max(63).optional().describe('Schema name; all readable schemas when omitted.'),
  }),
  output: z.object({
    tables: z.array(
      z.object({
        schema: z.string(),
        name: z.string(),
        kind: z.string(),
        comment: z.string().nullable(),
        estimatedRows: z.number().nullable(),
      }),
    ),
  }),
  async handler({ schema }, { principal, signal, deps }) {
    return { tables: await deps.catalog.listTables(principal, signal, schema) };
  },
});
