import { z } from 'zod';
import { filesTool, pathDigests, pathInput, READ_ANNOTATIONS } from '../tool.js';

export const grep = filesTool({
  name: 'grep',
  title: 'Search file contents',
  description:
    'Finds lines matching a regular expression in a file, or in every text file below a directory (optionally ' +
    'only those matching glob, e.g. "**/*.ts"). Patterns use RE2 syntax, which runs in linear time: no ' +
    'backreferences or lookaround; use (?i) for case-insensitive matching. Binary and oversized files are skipped. ' +
    'Output is capped; when truncated is true, narrow the path, glob or pattern.',
  scopes: ['files:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({
    path: pathInput('The file or directory to search'),
    pattern: z.string().min(1).max(1000).describe('An RE2 regular expression matched against each line.'),
    glob: z.string().min(1).max(1000).optional().describe('Only search files whose path below path matches this glob.'),
  }),
  output: z.object({
    path: z.string(),
    matches: z.array(z.object({ path: z.string(), line: z.number(), text: z.string() })),
    filesSearched: z.number(),
    filesSkipped: z.number(),
    truncated: z.boolean(),
  }),
  auditFields: pathDigests,
  async handler({ path, pattern, glob }, { principal, signal, deps }) {
    return deps.workspace.grep(principal.tenant, path, { pattern, glob }, signal);
  },
});
