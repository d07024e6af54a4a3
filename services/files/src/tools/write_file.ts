import { ToolError } from '@flotilla/runtime';
import { z } from 'zod';
import { etagInput, filesTool, pathDigests, pathInput } from '../tool.js';

export const writeFile = filesTool({
  name: 'write_file',
  title: 'Write a file',
  description:
    'Creates or replaces a whole file (missing parent directories are created). The write is atomic: readers see ' +
    'the old content or the new, never a mix. To change a file someone else may also change, pass the etag from ' +
    'your read as ifMatch (PRECONDITION_FAILED if it changed meanwhile); to never replace an existing file, set ' +
    'createOnly. For small changes to a text file prefer edit_file. Binary content goes as base64 with encoding "base64".',
  scopes: ['files:write'],
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.strictObject({
    path: pathInput('The file to write'),
    content: z.string().describe('The whole new content.'),
    encoding: z.enum(['utf8', 'base64']).optional().describe('How content is encoded (default utf8).'),
    ifMatch: etagInput.optional(),
    createOnly: z.boolean().optional().describe('Refuse with CONFLICT if the file already exists.'),
  }),
  output: z.object({ path: z.string(), etag: z.string(), size: z.number(), created: z.boolean() }),
  auditFields: pathDigests,
  async handler({ path, content, encoding, ifMatch, createOnly }, { principal, signal, deps }) {
    const bytes = encoding === 'base64' ? decodeBase64(content) : Buffer.from(content, 'utf8');
    return deps.workspace.write(principal.tenant, path, bytes, { ifMatch, createOnly: createOnly ?? false }, signal);
  },
});

function decodeBase64(content: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(content) || content.length % 4 !== 0) {
    throw new ToolError('INVALID_ARGUMENT', 'content is not valid base64 (standard alphabet, padded with =).');
  }
  return Buffer.from(content, 'base64');
}
