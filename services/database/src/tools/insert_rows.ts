import { z } from 'zod';
import { databaseTool } from '../tool.js';
import { columnValue, idempotencyKey, returning, tableName, writeOutput } from '../writes/inputs.js';

export const insertRows = databaseTool({
  name: 'insert_rows',
  title: 'Insert rows into a table',
  description:
    'Inserts 1 to 1000 rows into one writable table. Each row maps column names to values; a column left out of ' +
    'a row gets its default. Returns the primary key (or the `returning` columns) of each new row. Pass an ' +
    'idempotencyKey so that retrying after a timeout or lost connection cannot insert the rows twice. ' +
    'Only tables the server lists as writable are accepted; call describe_table first for column names and types.',
  scopes: ['db:write'],
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.strictObject({
    ...tableName,
    rows: z
      .array(z.record(z.string().min(1).max(63), columnValue))
      .min(1)
      .max(1000)
      .describe('Rows to insert, e.g. [{"email": "a@example.com", "name": "Ada"}].'),
    returning,
    idempotencyKey,
  }),
  output: writeOutput,
  async handler(input, { principal, signal, deps }) {
    return deps.writer.insert(principal, signal, input);
  },
});
