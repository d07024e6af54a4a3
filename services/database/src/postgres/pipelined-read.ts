import { runPipeline } from '@flotilla/postgres';
import type pg from 'pg';
import { READ_TYPES } from './values.js';

/** What a read's transaction is opened with: `set_config` values, all transaction-local. */
export interface ReadSettings {
  statementTimeoutMs: number;
  /** Already a quoted, comma-separated list of schemas. */
  searchPath: string;
  /** The verified tenant, set only when row-level security needs it. */
  tenant?: string;
}

export interface BoundedRows {
  fields: pg.FieldDef[];
  rows: unknown[][];
  /** Postgres had more rows than the limit: the portal was suspended, not completed. */
  more: boolean;
}

const BEGIN = 'BEGIN READ ONLY';
const ROLLBACK = 'ROLLBACK';
const SETTINGS =
  "SELECT set_config('statement_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true), " +
  "set_config('search_path', $3, true)";
const SETTINGS_WITH_TENANT = `${SETTINGS}, set_config('flotilla.tenant', $4, true)`;

/**
 * One agent read in one round trip (a pipeline, @flotilla/postgres): BEGIN READ ONLY, the
 * transaction's settings, the statement with Execute limited to `limit` rows, and ROLLBACK, each
 * prepared once per connection. Postgres never sends a row past the limit. A statement that fails
 * stops the pipeline before its ROLLBACK: the caller must then roll back (the transaction is left
 * aborted).
 */
export async function pipelinedRead(
  client: pg.PoolClient,
  settings: ReadSettings,
  statement: { sql: string; params: readonly unknown[]; limit: number },
): Promise<BoundedRows> {
  const timeout = String(settings.statementTimeoutMs);
  const idleTimeout = String(settings.statementTimeoutMs * 2);
  const results = await runPipeline(
    client,
    [
      { sql: BEGIN },
      settings.tenant === undefined
        ? { sql: SETTINGS, values: [timeout, idleTimeout, settings.searchPath] }
        : { sql: SETTINGS_WITH_TENANT, values: [timeout, idleTimeout, settings.searchPath, settings.tenant] },
      { sql: statement.sql, values: statement.params, returnsRows: true, limit: statement.limit },
      { sql: ROLLBACK },
    ],
    // Only the agent's statement is described, so only its rows are decoded, with the read's parsers.
    { rowMode: 'array', types: READ_TYPES, valueMapper: asText },
  );
  const read = results[STATEMENT_STEP];
  return { fields: read?.fields ?? [], rows: (read?.rows ?? []) as unknown[][], more: read?.more ?? false };
}

/** Parameters reach Postgres as text; the tool's schema allows only strings, numbers, booleans and null. */
function asText(value: unknown): unknown {
  return value === null || value === undefined ? null : String(value);
}

/** The agent's statement follows BEGIN and the settings. */
const STATEMENT_STEP = 2;
