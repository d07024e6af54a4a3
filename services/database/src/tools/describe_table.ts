import { z } from 'zod';
import { databaseTool, READ_ANNOTATIONS } from '../tool.js';

export const describeTable = databaseTool({
  name: 'describe_table',
  title: 'Describe a table',
  description:
    'Describes one table or view: columns with types, nullability, defaults and comments, the primary key, ' +
    'foreign keys (what each column references), unique and check constraints, and indexes. ' +
    'Read this before writing a query that joins or filters on the table.',
  scopes: ['db:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({
    schema: z.string().min(1).max(63).optional().describe('Schema name; the first allowed schema when omitted.'),
    table: z.string().min(1).max(63).describe('Table or view name, exactly as list_tables shows it.'),
  }),
  output: z.object({
    schema: z.string(),
    name: z.string(),
    kind: z.string(),
    comment: z.string().nullable(),
    columns: z.array(
      z.object({
        name: z.string(),
        type: z.string(),
        nullable: z.boolean(),
        default: z.string().nullable(),
        comment: z.string().nullable(),
      }),
    ),
    primaryKey: z.array(z.string()),
    foreignKeys: z.array(
      z.object({
        name: z.string(),
        columns: z.array(z.string()),
        referencesTable: z.string(),
        referencesColumns: z.array(z.string()),
      }),
    ),
    uniqueConstraints: z.array(z.object({ name: z.string(), columns: z.array(z.string()) })),
    checkConstraints: z.array(z.object({ name: z.string(), definition: z.string() })),
    indexes: z.array(z.object({ name: z.string(), unique: z.boolean(), primary: z.boolean(), definition: z.string() })),
  }),
  async handler({ schema, table }, { principal, signal, deps }) {
    return deps.catalog.describeTable(principal, signal, schema ?? deps.defaultSchema, table);
  },
});
