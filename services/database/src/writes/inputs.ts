import { z } from 'zod';

/** A column value: JSON scalars, arrays for array columns, objects and arrays for json/jsonb columns. */
export const columnValue = z.json();

export const tableName = {
  schema: z.string().min(1).max(63).optional().describe('Schema name; the first allowed schema when omitted.'),
  table: z.string().min(1).max(63).describe('Table name, exactly as list_tables shows it.'),
};

export const WHERE_OPERATORS = [
  '=',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  'in',
  'not_in',
  'like',
  'ilike',
  'is_null',
  'is_not_null',
] as const;

export const whereTerms = z
  .array(
    z.strictObject({
      column: z.string().min(1).max(63),
      op: z.enum(WHERE_OPERATORS).default('='),
      value: columnValue
        .optional()
        .describe('The value to compare with; an array for in/not_in; omitted for is_null/is_not_null.'),
    }),
  )
  .min(1, 'where needs at least one term: filter on the primary key or another column; changing every row is refused')
  .max(20)
  .describe('Terms that must all hold (AND). Filter on the primary key to change exactly the rows you mean.');

export const expectedCount = z
  .number()
  .int()
  .min(0)
  .optional()
  .describe('The number of rows you expect to change; if it differs, nothing is changed and the call fails.');

export const returning = z
  .array(z.string().min(1).max(63))
  .max(100)
  .optional()
  .describe('Columns to return from each changed row; the primary key when omitted.');

export const idempotencyKey = z
  .string()
  .min(1)
  .max(200)
  .optional()
  .describe(
    'A unique key for this change (e.g. a UUID). Retrying with the same key and arguments within 24 hours returns ' +
      'the first result instead of changing rows again, whichever replica answers.',
  );

export const writeOutput = z.object({
  rowCount: z.number().int().describe('Rows inserted, updated or deleted.'),
  rows: z.array(z.record(z.string(), z.unknown())).describe('The returning columns of the changed rows.'),
  truncated: z.boolean().describe('True when more rows changed than are listed in rows.'),
  replayed: z
    .boolean()
    .describe('True when this is the stored result of an earlier call with the same idempotencyKey.'),
});

export type WriteResult = z.output<typeof writeOutput>;
export type WhereTerm = z.output<typeof whereTerms>[number];
