import { z } from 'zod';
import { filesTool, pathDigests, pathInput } from '../tool.js';

export const makeDirectory = filesTool({
  name: 'make_directory',
  title: 'Create a directory',
  description:
    'Creates a directory and any missing parents. Succeeds without change if it already exists (created is then false).',
  scopes: ['files:write'],
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.strictObject({ path: pathInput('The directory to create') }),
  output: z.object({ path: z.string(), created: z.boolean() }),
  auditFields: pathDigests,
  async handler({ path }, { principal, deps }) {
    return deps.workspace.makeDirectory(principal.tenant, path);
  },
});
