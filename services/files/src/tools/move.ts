import { z } from 'zod';
import { filesTool, pathDigests, pathInput } from '../tool.js';

export const move = filesTool({
  name: 'move',
  title: 'Move or rename',
  description:
    'Moves or renames a file or directory within the workspace (missing parents of the destination are created). ' +
    'An existing destination is replaced only with overwrite: true; otherwise the call answers CONFLICT.',
  scopes: ['files:write'],
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.strictObject({
    from: pathInput('What to move'),
    to: pathInput('Its new path'),
    overwrite: z.boolean().optional().describe('Replace an existing file at to (default false).'),
  }),
  output: z.object({ from: z.string(), to: z.string(), overwritten: z.boolean() }),
  auditFields: pathDigests,
  async handler({ from, to, overwrite }, { principal, signal, deps }) {
    return deps.workspace.move(principal.tenant, from, to, overwrite ?? false, signal);
  },
});
