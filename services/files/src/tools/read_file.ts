import { z } from 'zod';
import { filesTool, pathDigests, pathInput, READ_ANNOTATIONS } from '../tool.js';

export const readFile = filesTool({
  name: 'read_file',
  title: 'Read a file',
  description:
    'Reads a file, or a byte range of it with offset and length. Text comes back as text (encoding utf8); ' +
    'anything else as base64 with its MIME type. One call returns at most the server limit (TOO_LARGE beyond it): ' +
    'read big files in ranges, continuing from offset + length until eof is true. Keep the etag to make a later ' +
    'write or edit conditional with ifMatch.',
  scopes: ['files:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({
    path: pathInput('The file'),
    offset: z.number().int().min(0).optional().describe('First byte to read (default 0).'),
    length: z.number().int().min(0).optional().describe('Bytes to read (default: to the end of the file).'),
  }),
  output: z.object({
    path: z.string(),
    etag: z.string(),
    size: z.number(),
    offset: z.number(),
    length: z.number(),
    eof: z.boolean(),
    mimeType: z.string(),
    encoding: z.enum(['utf8', 'base64']),
    content: z.string(),
  }),
  auditFields: pathDigests,
  extraContent(output) {
    if (output.encoding !== 'base64') return [];
    const uri = `file:///${output.path.split('/').map(encodeURIComponent).join('/')}`;
    return [{ type: 'resource', resource: { uri, mimeType: output.mimeType, blob: output.content } }];
  },
  async handler({ path, offset, length }, { principal, signal, deps }) {
    return deps.workspace.read(principal.tenant, path, { offset: offset ?? 0, length }, signal);
  },
});
