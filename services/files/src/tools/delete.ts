import { z } from 'zod';
import { filesTool, pathDigests, pathInput } from '../tool.js';

export const deletePath = filesTool({
  name: 'delete',
  title: 'Delete a file or directory',
  description:
    'Deletes a file, a symbolic link (never what it points to) or an empty directory; a directory with contents ' +
    'only with recursive: true. There is no undo.',
  scopes: ['files:delete'],
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.strictObject({
    path: pathInput('What to delete'),
    recursive: z.boolean().optional().describe('Delete a directory and everything in it (default false).'),
  }),
  output: z.object({ path: z.string(), type: z.enum(['file', 'directory', 'symlink', 'other']), deleted: z.boolean() }),
  auditFields: pathDigests,
  async handler({ path, recursive }, { principal, signal, deps }) {
    return deps.workspace.delete(principal.tenant, path, recursive ?? false, signal);
  },
});
