import { toolsFor } from '@flotilla/runtime';

import type { Catalog } from './catalog.js';
import type { ReadOnlySql } from './read-only-sql.js';
import type { TableWriter } from './writes/table-writer.js';

export { READ_ANNOTATIONS } from '@flotilla/runtime';

/** What database tools may touch: catalog discovery, guarded read-only SQL and structured writes, never the pool itself. */
export interface DatabaseDeps {
  catalog: Catalog;
  sql: ReadOnlySql;
  writer: TableWriter;
  defaultSchema: string;
}

export const databaseTool = toolsFor<DatabaseDeps>();
