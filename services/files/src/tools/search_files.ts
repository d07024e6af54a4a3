import { z } from 'zod';
import { filesTool, pathDigests, pathInput, READ_ANNOTATIONS } from '../tool.js';

export const searchFiles = filesTool({
  name: 'search_files',
  title: 'Find files by name',
  description:
    'Finds files and directories below a directory whose path (relative to that directory) matches a glob: ' +
    '"**/*.md" for Markdown anywhere, "*.json" for JSON files directly inside, "reports/**/2026-*". ' +
    'Results are capped; when truncated is true, search a narrower directory or pattern.',
  scopes: ['files:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({
    path: pathInput('The directory to search below'),
    glob: z.string().min(1).max(1000).describe('A glob (*, **, ?, {a,b}, [abc]) matched against paths below path.'),
  }),
  output: z.object({
    path: z.string(),
    matches: z.array(z.object({ path: z.string(), type: z.enum(['file', 'directory', 'symlink', 'other']) })),
    truncated: z.boolean(),
  }),
  auditFields: pathDigests,
  async handler({ path, glob }, { principal, signal, deps }) {
    return deps.workspace.search(principal.tenant, path, glob, signal);
  },
});
