import { type ResourceTemplateDefinition, ToolError } from '@flotilla/runtime';
import type { FilesDeps } from '../tool.js';

/** How many root entries resources/list shows: a starting point, not an index of the workspace. */
const LISTED = 50;

/**
 * The workspace's files as `file:///{path}` resources, read with the same checks and limits as
 * read_file: text as text, anything else as a base64 blob with its MIME type.
 */
export const files: ResourceTemplateDefinition<FilesDeps> = {
  name: 'file',
  title: 'Workspace file',
  description: 'A file of the workspace, by its path below the root: text as text, anything else as a blob.',
  uriTemplate: 'file:///{+path}',
  mimeType: 'text/plain',
  scopes: ['files:read'],
  async list({ principal, deps }) {
    const { entries } = await deps.workspace.list(principal.tenant, '', { limit: LISTED, details: false });
    return entries
      .filter((entry) => entry.type === 'file')
      .map((entry) => ({ uri: `file:///${encodeURIComponent(entry.name)}`, name: entry.name }));
  },
  async read(_uri, variables, { principal, signal, deps }) {
    let path: string;
    try {
      path = decodeURIComponent(variables.path ?? '');
    } catch {
      throw new ToolError('INVALID_ARGUMENT', 'The path in the URI is not valid percent-encoding.');
    }
    const file = await deps.workspace.read(principal.tenant, path, { offset: 0 }, signal);
    return file.encoding === 'utf8'
      ? { text: file.content, mimeType: file.mimeType }
      : { blob: file.content, mimeType: file.mimeType };
  },
};
