import { z } from 'zod';
import { databaseTool, READ_ANNOTATIONS } from '../tool.js';

export const listSchemas = databaseTool({
  name: 'list_schemas',
  title: 'List schemas',
  description:
    'Lists the PostgreSQL schemas this server may read, with their comments. Start here, then call list_tables.',
  scopes: ['db:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({}),
  output: z.object({
    schemas: z.array(z.object({ name: z.string(), comment: z.string().nullable() })),
  }),
  async handler(_input, { principal, signal, deps }) {
    return { schemas: await deps.catalog.listSchemas(principal, signal) };
  },
});
