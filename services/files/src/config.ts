import { env } from '@flotilla/runtime';
import { z } from 'zod';

/** Repositories anywhere in the tree (`.git` itself, and all below it), env files and SSH keys. */
export const DEFAULT_DENY_GLOBS = ['**/.git/**', '**/.env', '**/.ssh/**'] as const;

/** The files server's own variables (SPEC §9), on top of the runtime's. */
export const filesEnvironment = {
  /** The shared volume; each tenant gets one directory below it. */
  FILES_ROOT: z.string().min(1, 'FILES_ROOT must name the workspace directory (the shared volume)'),
  FILES_MAX_READ_BYTES: env.positiveInt(4 * 1024 * 1024),
  FILES_MAX_WRITE_BYTES: env.positiveInt(4 * 1024 * 1024),
  FILES_TENANT_QUOTA_BYTES: env.positiveInt(1024 * 1024 * 1024),
  /** How often each replica walks the tenants it serves to correct their usage counters (drift). */
  FILES_USAGE_RECONCILE_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(24 * 60 * 60 * 1000)
    .default(10 * 60 * 1000),
  /** Paths no tool may see or touch, matched against the path and each of its ancestors. */
  FILES_DENY_GLOBS: env.list.transform((globs) => (globs.length > 0 ? globs : [...DEFAULT_DENY_GLOBS])),
  /** The largest page list_directory returns (and search_files' result cap). */
  FILES_LIST_PAGE_SIZE: env.positiveInt(1000),
  FILES_GREP_MAX_MATCHES: env.positiveInt(200),
  FILES_GREP_TIME_BUDGET_MS: env.positiveInt(3000),
  /** How long a change waits for another replica's lock on the same file before answering CONFLICT. */
  FILES_LOCK_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(3000),
};
