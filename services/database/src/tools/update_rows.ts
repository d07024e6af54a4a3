import { z } from 'zod';
import { databaseTool } from '../tool.js';
import {
  columnValue,
  expectedCount,
  idempotencyKey,
  returning,
  tableName,
  whereTerms,
  writeOutput,
} from '../writes/inputs.js';

export const updateRows = databaseTool({
  name: 'update_rows',
  title: 'Update rows in a table',
  description:
    'Sets columns to new values in the rows of one writable table that match every `where` term, e.g. ' +
    'where [{"column": "id", "op": "=", "value": 42}]. A where is required. Pass expectedCount (query the rows ' +
    'first) so that a filter matching more or fewer rows than you meant changes nothing, and an idempotencyKey ' +
    'to make retries safe. Returns the primary key (or the `returning` columns) of each changed row.',
  scopes: ['db:write'],
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.strictObject({
    ...tableName,
    set: z
      .record(z.string().min(1).max(63), columnValue)
      .describe('Columns to change and their new values, e.g. {"status": "shipped"}.'),
    where: whereTerms,
    expectedCount,
    returning,
    idempotencyKey,
  }),
  output: writeOutput,
  async handler(input, { principal, signal, deps }) {
    return deps.writer.update(principal, signal, input);
  },
});
