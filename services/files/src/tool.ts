import { createHash } from 'node:crypto';
import { toolsFor } from '@flotilla/runtime';

import { z } from 'zod';
import type { Workspace } from './workspace.js';

export { READ_ANNOTATIONS } from '@flotilla/runtime';

/** What files tools may touch: the caller's tenant tree through the workspace, never `fs` itself. */
export interface FilesDeps {
  workspace: Workspace;
}

export const filesTool = toolsFor<FilesDeps>();

/** A workspace path as the model types it; paths.ts decides what is acceptable. */
export const pathInput = (what: string) =>
  z
    .string()
    .max(8192)
    .describe(`${what}, relative to the workspace root with / between names (e.g. docs/plan.md); "" or . is the root.`);

export const etagInput = z
  .string()
  .min(1)
  .max(200)
  .describe(
    'The etag from an earlier read or stat: the change is made only if the file is still exactly that version.',
  );

/** Audit lines carry a digest of each path argument, never the path itself (SPEC §6 keeps paths out of logs). */
export function pathDigests(args: Record<string, unknown>): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const key of ['path', 'from', 'to']) {
    const value = args[key];
    if (typeof value === 'string') digests[`${key}Sha256`] = createHash('sha256').update(value).digest('hex');
  }
  return digests;
}
