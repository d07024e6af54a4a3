import { toolsFor } from '@flotilla/runtime';
import type { Catalog } from './catalog.js';
import type { ReadOnlySql } from './read-only-sql.js';

/** What database tools may touch: catalog discovery and guarded read-only SQL, never the pool itself. */
export interface DatabaseDeps {
  catalog: Catalog;
  sql: ReadOnlySql;
  defaultSchema: string;
}

export const databaseTool = toolsFor<DatabaseDeps>();

export const READ_ANNOTATIONS = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
} as const;
