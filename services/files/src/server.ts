import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import type { RuntimeConfig, ServiceDefinition, ServiceKit, ServiceParts } from '@flotilla/runtime';
import type { z } from 'zod';
import type { filesEnvironment } from './config.js';
import { createFilesMetrics } from './metrics.js';
import { PathLocks } from './path-locks.js';
import { DenyList } from './paths.js';
import { files } from './resources/files.js';
import { assertProcFdAvailable } from './sandbox.js';
import { TenantUsage } from './tenant-usage.js';
import type { FilesDeps } from './tool.js';
import { deletePath } from './tools/delete.js';
import { editFile } from './tools/edit_file.js';
import { grep } from './tools/grep.js';
import { listDirectory } from './tools/list_directory.js';
import { makeDirectory } from './tools/make_directory.js';
import { move } from './tools/move.js';
import { readFile } from './tools/read_file.js';
import { searchFiles } from './tools/search_files.js';
import { stat } from './tools/stat.js';
import { writeFile } from './tools/write_file.js';
import { MemoryUsageStore, RedisUsageStore } from './usage-store.js';
import { Workspace } from './workspace.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export type FilesConfig = RuntimeConfig & z.output<z.ZodObject<typeof filesEnvironment>>;

/** Which tools the files server offers. Adding a tool is one file in tools/ and one line here. */
export const filesService: ServiceDefinition<FilesDeps> = {
  name: 'files',
  version,
  title: 'Flotilla workspace files',
  instructions:
    'A shared workspace of files and directories, private to your tenant; paths are relative to its root ' +
    '("" is the root). Explore with list_directory, search_files and grep; read with read_file (large files in ' +
    'ranges). Change text with edit_file, passing the etag you read as ifMatch; write whole files with write_file. ' +
    'Some paths (such as .git and .env files) are not accessible, and symbolic links never lead outside the workspace.',
  tools: [listDirectory, stat, readFile, searchFiles, grep, writeFile, editFile, makeDirectory, move, deletePath],
  resources: [files],
};

/** Builds the files server's dependencies: the workspace on FILES_ROOT, its locks and its metrics. */
export async function setupFiles(kit: ServiceKit<FilesConfig>): Promise<ServiceParts<FilesDeps>> {
  const { config, metrics } = kit;
  await assertProcFdAvailable();
  let root: string;
  try {
    // Every containment check compares real paths, so the root is resolved once, links and all.
    root = await fs.realpath(config.FILES_ROOT);
    if (!(await fs.stat(root)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new Error('FILES_ROOT must be an existing directory (the mounted workspace volume)');
  }
  // A lease outlives the longest call, so it cannot lapse under a holder that is still within its time limit.
  const leaseMs = config.TOOL_TIMEOUT_MS + 5000;
  const filesMetrics = createFilesMetrics(metrics.registry);
  const usage = new TenantUsage(
    // A change holds its reservation no longer than its lease, so two leases make a window.
    kit.redis ? new RedisUsageStore(kit.redis, 2 * leaseMs) : new MemoryUsageStore(),
    {
      quotaBytes: config.FILES_TENANT_QUOTA_BYTES,
      reconcileMs: config.FILES_USAGE_RECONCILE_MS,
      failMode: config.RATE_LIMIT_FAIL_MODE,
    },
    filesMetrics,
    kit.logger,
  );
  const workspace = new Workspace(
    root,
    new DenyList(config.FILES_DENY_GLOBS),
    {
      maxReadBytes: config.FILES_MAX_READ_BYTES,
      maxWriteBytes: config.FILES_MAX_WRITE_BYTES,
      listPageSize: config.FILES_LIST_PAGE_SIZE,
      grepMaxMatches: config.FILES_GREP_MAX_MATCHES,
      grepTimeBudgetMs: config.FILES_GREP_TIME_BUDGET_MS,
    },
    new PathLocks(kit.redis, { leaseMs, waitMs: config.FILES_LOCK_WAIT_MS }),
    usage,
    filesMetrics,
  );
  return {
    deps: { workspace },
    dependencies: [{ name: 'volume', required: true, check: () => workspace.checkWritable() }],
    close: () => usage.close(),
  };
}
