import { z } from 'zod';
import { databaseTool } from '../tool.js';
import { expectedCount, idempotencyKey, returning, tableName, whereTerms, writeOutput } from '../writes/inputs.js';

export const deleteRows = databaseTool({
  name: 'delete_rows',
  title: 'Delete rows from a table',
  description:
    'Deletes the rows of one writable table that match every `where` term, e.g. ' +
    'where [{"column": "id", "op": "in", "value": [7, 9]}]. A where is required. Pass expectedCount (query the ' +
    'rows first) so that a filter matching more or fewer rows than you meant deletes nothing, and an ' +
    'idempotencyKey to make retries safe. Returns the primary key (or the `returning` columns) of each deleted row.',
  scopes: ['db:write'],
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.strictObject({ ...tableName, where: whereTerms, expectedCount, returning, idempotencyKey }),
  output: writeOutput,
  async handler(input, { principal, signal, deps }) {
    return deps.writer.delete(principal, signal, input);
  },
});
