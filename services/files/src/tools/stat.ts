import { z } from 'zod';
import { filesTool, pathDigests, pathInput, READ_ANNOTATIONS } from '../tool.js';

export const stat = filesTool({
  name: 'stat',
  title: 'File information',
  description:
    'Tells whether a path exists and what it is: type, size in bytes, modification time, MIME type and the etag ' +
    'to pass as ifMatch when changing the file. Check the size before reading a large file.',
  scopes: ['files:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({ path: pathInput('The file or directory') }),
  output: z.object({
    path: z.string(),
    type: z.enum(['file', 'directory']),
    size: z.number(),
    modifiedAt: z.string(),
    etag: z.string(),
    mimeType: z.string().nullable(),
  }),
  auditFields: pathDigests,
  async handler({ path }, { principal, deps }) {
    return deps.workspace.stat(principal.tenant, path);
  },
});
