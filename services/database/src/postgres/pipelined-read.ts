import { runPipeline } from '@flotilla/postgres';
import type pg from 'pg';
import { READ_TYPES } from './values.js';

/** The session defaults every read relies on: the same for every read of this server. */
export interface SessionSettings {
  statementTimeoutMs: number;
  /** Already a quoted, comma-separated list of schemas. */
  searchPath: string;
}

/** The statement that sets them, built once per server rather than per read. */
export function sessionSetup(settings: SessionSettings): string {
  return (
    `SET statement_timeout = ${settings.statementTimeoutMs}; ` +
    `SET idle_in_transaction_session_timeout = ${settings.statementTimeoutMs * 2}; ` +
    `SET search_path = ${settings.searchPath}`
  );
}

export interface BoundedRows {
  fields: pg.FieldDef[];
  rows: unknown[][];
  /** Postgres had more rows than the limit: the portal was suspended, not completed. */
  more: boolean;
}

const BEGIN = 'BEGIN READ ONLY';
const ROLLBACK = 'ROLLBACK';
const TENANT = "SELECT set_config('flotilla.tenant', $1, true)";

/** The SET each connection ran, by connection: a pooled client is the same connection each time. */
const configured = new WeakMap<object, string>();

/**
 * The statement timeout, the idle-in-transaction timeout and the search path, set for the session
 * the first time a connection serves a read, instead of transaction-locally in every read (one
 * statement fewer per read). Nothing can leak to the next borrower: every read of this server
 * sets the same values, the read-only guard refuses SET and set_config in an agent's SQL, and
 * a setting changed inside a transaction is undone by the ROLLBACK that ends every read.
 */
async function configureSession(client: pg.PoolClient, setup: string): Promise<void> {
  const key = (client as { connection?: object }).connection ?? client;
  if (configured.get(key) === setup) return;
  await client.query(setup);
  configured.set(key, setup);
}

/**
 * One agent read in one round trip (a pipeline, @flotilla/postgres): BEGIN READ ONLY, the verified
 * tenant where row-level security reads it, the statement with Execute limited to `limit` rows, and
 * ROLLBACK, each prepared once per connection, on a connection whose session defaults are set
 * (`configureSession`). Postgres never sends a row past the limit. A statement that fails stops
 * the pipeline before its ROLLBACK: the caller must then roll back (the transaction is left aborted).
 */
export async function pipelinedRead(
  client: pg.PoolClient,
  /** `sessionSetup` of the server's settings. */
  setup: string,
  tenant: string | undefined,
  statement: { sql: string; params: readonly unknown[]; limit: number },
): Promise<BoundedRows> {
  await configureSession(client, setup);
  const results = await runPipeline(
    client,
    [
      { sql: BEGIN },
      ...(tenant === undefined ? [] : [{ sql: TENANT, values: [tenant] }]),
      { sql: statement.sql, values: statement.params, returnsRows: true, limit: statement.limit },
      { sql: ROLLBACK },
    ],
    // Only the agent's statement is described, so only its rows are decoded, with the read's parsers.
    { rowMode: 'array', types: READ_TYPES, valueMapper: asText },
  );
  // The agent's statement follows BEGIN (and the tenant).
  const read = results[tenant === undefined ? 1 : 2];
  return { fields: read?.fields ?? [], rows: (read?.rows ?? []) as unknown[][], more: read?.more ?? false };
}

/** Parameters reach Postgres as text; the tool's schema allows only strings, numbers, booleans and null. */
function asText(value: unknown): unknown {
  return value === null || value === undefined ? null : String(value);
}
