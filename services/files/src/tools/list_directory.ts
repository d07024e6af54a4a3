import { z } from 'zod';
import { filesTool, pathDigests, pathInput, READ_ANNOTATIONS } from '../tool.js';

export const listDirectory = filesTool({
  name: 'list_directory',
  title: 'List a directory',
  description:
    'Lists one directory of the workspace in name order: each entry with its type (file, directory, symlink), ' +
    'and with details: true also the size of files and the last modification time. Long directories come in ' +
    'pages: pass nextCursor back as cursor to get the next one. Start with path "" to see the workspace root.',
  scopes: ['files:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({
    path: pathInput('The directory'),
    cursor: z.string().max(2000).optional().describe('nextCursor from the previous page.'),
    limit: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .optional()
      .describe('Entries per page (default 200, capped by the server).'),
    details: z.boolean().optional().describe('Also return size and modifiedAt of each entry (default false).'),
  }),
  output: z.object({
    path: z.string(),
    entries: z.array(
      z.object({
        name: z.string(),
        type: z.enum(['file', 'directory', 'symlink', 'other']),
        size: z.number().nullable().optional(),
        modifiedAt: z.string().nullable().optional(),
      }),
    ),
    nextCursor: z.string().nullable(),
  }),
  auditFields: pathDigests,
  async handler({ path, cursor, limit, details }, { principal, deps }) {
    const pageLimit = Math.min(limit ?? 200, deps.workspace.pageSize);
    return deps.workspace.list(principal.tenant, path, { cursor, limit: pageLimit, details: details ?? false });
  },
});
