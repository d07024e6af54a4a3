import { z } from 'zod';
import { etagInput, filesTool, pathDigests, pathInput } from '../tool.js';

export const editFile = filesTool({
  name: 'edit_file',
  title: 'Edit a text file',
  description:
    'Replaces exact pieces of text in a file and returns a unified diff of the change. Each edit replaces one ' +
    'occurrence of oldText (which must appear exactly once: include surrounding lines to make it unique) with ' +
    'newText; edits apply in order. Set dryRun to see the diff without changing the file. Concurrent edits from ' +
    'other agents are serialised; pass ifMatch with the etag you read to be sure the file is the version you saw.',
  scopes: ['files:write'],
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.strictObject({
    path: pathInput('The text file to edit'),
    edits: z
      .array(
        z.strictObject({
          oldText: z.string().min(1).describe('Text to replace, copied exactly from the file.'),
          newText: z.string().describe('What replaces it ("" deletes it).'),
        }),
      )
      .min(1)
      .max(100),
    ifMatch: etagInput.optional(),
    dryRun: z.boolean().optional().describe('Return the diff without writing (default false).'),
  }),
  output: z.object({ path: z.string(), etag: z.string(), diff: z.string(), dryRun: z.boolean() }),
  auditFields: pathDigests,
  async handler({ path, edits, ifMatch, dryRun }, { principal, signal, deps }) {
    return deps.workspace.edit(principal.tenant, path, edits, { ifMatch, dryRun: dryRun ?? false }, signal);
  },
});
