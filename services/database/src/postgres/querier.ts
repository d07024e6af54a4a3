import type { Principal } from '@flotilla/auth';
import { type DependencyPolicy, isBrokenCircuit, isTransientPostgresError } from '@flotilla/resilience';
import { ToolError } from '@flotilla/runtime';
import pg from 'pg';
import { toToolError } from './errors.js';
import { type BoundedRows, pipelinedRead, sessionSetup } from './pipelined-read.js';
import { jsonBytesAtMost, toJsonValue, uniqueColumnNames } from './values.js';

export interface QuerierSettings {
  statementTimeoutMs: number;
  allowedSchemas: readonly string[];
  tenantMode: 'none' | 'rls';
}

export interface RowsRequest {
  sql: string;
  params: readonly unknown[];
  maxRows: number;
  maxBytes: number;
}

export interface RowsResult {
  columns: { name: string; type: string }[];
  rows: Record<string, unknown>[];
  rowCount: number;
  truncated: boolean;
  durationMs: number;
}

/** Statements run inside a read-only transaction the querier opened. */
export interface ReadSession {
  query<Row extends pg.QueryResultRow>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

/** Statements of a structured write, inside a read-write transaction the querier opened. */
export interface WriteSession {
  execute<Row extends pg.QueryResultRow>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<{ rows: Row[]; rowCount: number }>;
}

/**
 * Layer 2 of read-only enforcement, and the only way tools reach Postgres: every call runs in
 * `BEGIN READ ONLY` under the server's timeouts (`SET LOCAL`, or for `select` the connection's
 * session settings) and (with RLS) the verified tenant, is rolled back afterwards, and is cancelled
 * on the server when the request's signal aborts. Structured writes get the same transaction
 * opened `READ WRITE`, committed only when they succeed.
 */
export class Querier {
  private readonly typeNames = new Map<number, string>();
  /** The allowed schemas as quoted identifiers, the search path of every transaction. */
  private readonly searchPath: string;
  /** What `select` sets once per connection (see pipelined-read.ts). */
  private readonly sessionSetup: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly policy: DependencyPolicy,
    private readonly settings: QuerierSettings,
  ) {
    this.searchPath = settings.allowedSchemas.map((schema) => pg.escapeIdentifier(schema)).join(', ');
    this.sessionSetup = sessionSetup({ statementTimeoutMs: settings.statementTimeoutMs, searchPath: this.searchPath });
  }

  /** Runs `work` in a read-only transaction that is always rolled back. */
  read<T>(principal: Principal, signal: AbortSignal, work: (session: ReadSession) => Promise<T>): Promise<T> {
    return this.transaction('READ ONLY', principal, signal, (client) => work(this.session(client)));
  }

  /**
   * Runs `work` in a read-write transaction that commits only when `work` returns; any throw (an
   * `expectedCount` mismatch, a constraint, a cancel) rolls every statement back.
   */
  write<T>(principal: Principal, signal: AbortSignal, work: (session: WriteSession) => Promise<T>): Promise<T> {
    return this.transaction('READ WRITE', principal, signal, (client) =>
      work({
        execute: async <Row extends pg.QueryResultRow>(sql: string, params: readonly unknown[] = []) => {
          const result = await client.query<Row>(sql, params as unknown[]);
          return { rows: result.rows, rowCount: result.rowCount ?? 0 };
        },
      }),
    );
  }

  /**
   * One agent statement, in one round trip (see pipelined-read.ts): the same read-only transaction
   * as `read`, its statements prepared once per connection. Asks for one row more than the cap, so
   * `truncated` is known without fetching further, then keeps rows while they fit the byte cap.
   */
  select(principal: Principal, signal: AbortSignal, request: RowsRequest): Promise<RowsResult> {
    return this.withClient(signal, async (client) => {
      const started = performance.now();
      const statement = { sql: request.sql, params: request.params, limit: request.maxRows + 1 };
      // The tenant only where row-level security reads it.
      const tenant = this.settings.tenantMode === 'rls' ? principal.tenant : undefined;
      let result: BoundedRows;
      try {
        result = await pipelinedRead(client, this.sessionSetup, tenant, statement);
      } catch (error) {
        // A table whose columns changed since the statement was prepared: the failed statement has
        // been forgotten, so once rolled back the same read prepares it afresh.
        if (!isChangedResultType(error)) throw error;
        await client.query('ROLLBACK');
        result = await pipelinedRead(client, this.sessionSetup, tenant, statement);
      }
      return this.toRowsResult(client, request, result, started);
    });
  }

  private transaction<T>(
    mode: 'READ ONLY' | 'READ WRITE',
    principal: Principal,
    signal: AbortSignal,
    work: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    return this.withClient(signal, async (client) => {
      await client.query(this.beginSql(mode, principal));
      const result = await work(client);
      await client.query(mode === 'READ ONLY' ? 'ROLLBACK' : 'COMMIT');
      return result;
    });
  }

  /**
   * A pooled connection for `work`, cancelled on the server when the signal aborts. When `work`
   * fails, whatever transaction it left open is rolled back (a failed pipelined read stops before
   * its own ROLLBACK); a connection whose rollback failed, or that saw a transient error, is
   * discarded rather than returned to the pool.
   */
  private async withClient<T>(signal: AbortSignal, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    let client: pg.PoolClient;
    try {
      client = await this.policy.execute(() => this.pool.connect(), signal);
    } catch (error) {
      if (isBrokenCircuit(error)) throw error;
      throw toToolError(error, { timedOut: signal.aborted, statementTimeoutMs: this.settings.statementTimeoutMs });
    }
    const cancel = () => void this.cancelBackend(client);
    signal.addEventListener('abort', cancel, { once: true });
    let broken: Error | undefined;
    try {
      return await work(client);
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      if (isTransientPostgresError(error)) broken = error as Error;
      throw toToolError(error, { timedOut: signal.aborted, statementTimeoutMs: this.settings.statementTimeoutMs });
    } finally {
      signal.removeEventListener('abort', cancel);
      client.release(broken);
    }
  }

  /** A cheap round trip for /readyz. */
  async ping(signal: AbortSignal): Promise<void> {
    const client = await this.pool.connect();
    const cancel = () => client.release(new Error('readiness check timed out'));
    signal.addEventListener('abort', cancel, { once: true });
    try {
      await client.query('SELECT 1');
      signal.removeEventListener('abort', cancel);
      client.release();
    } catch (error) {
      signal.removeEventListener('abort', cancel);
      client.release(error as Error);
      throw error;
    }
  }

  /**
   * One round trip opens the transaction. The values are integers and quoted identifiers from
   * validated configuration, and the tenant of a verified principal as an escaped literal.
   */
  private beginSql(mode: 'READ ONLY' | 'READ WRITE', principal: Principal): string {
    const timeout = this.settings.statementTimeoutMs;
    const statements = [
      `BEGIN ${mode}`,
      `SET LOCAL statement_timeout = ${timeout}`,
      `SET LOCAL idle_in_transaction_session_timeout = ${timeout * 2}`,
      `SET LOCAL search_path = ${this.searchPath}`,
    ];
    // Writes always carry the tenant: the idempotency records are tenant-scoped by a policy of their own.
    if (this.settings.tenantMode === 'rls' || mode === 'READ WRITE') {
      // Transaction-local (`true`), so it cannot leak to the next borrower of this pooled connection.
      statements.push(`SELECT set_config('flotilla.tenant', ${pg.escapeLiteral(principal.tenant)}, true)`);
    }
    return statements.join('; ');
  }

  private session(client: pg.PoolClient): ReadSession {
    return {
      query: async <Row extends pg.QueryResultRow>(sql: string, params: readonly unknown[] = []) =>
        (await client.query<Row>(sql, params as unknown[])).rows,
    };
  }

  /** Keeps rows up to the row cap while they fit the byte cap, as JSON values. */
  private async toRowsResult(
    client: pg.PoolClient,
    request: RowsRequest,
    { fields, rows: values, more }: BoundedRows,
    started: number,
  ): Promise<RowsResult> {
    const names = uniqueColumnNames(fields.map((field) => field.name));
    let truncated = more || values.length > request.maxRows;
    const records = values.slice(0, request.maxRows).map((row) => {
      const record: Record<string, unknown> = {};
      for (let index = 0; index < row.length; index++) {
        record[names[index] ?? `column_${index + 1}`] = toJsonValue(row[index]);
      }
      return record;
    });
    // Measured once as a whole; only an answer past the byte cap is measured row by row to find where to cut.
    let rows = records;
    if (jsonBytesAtMost(records) > request.maxBytes && Buffer.byteLength(JSON.stringify(records)) > request.maxBytes) {
      rows = [];
      let bytes = 0;
      for (const record of records) {
        bytes += Buffer.byteLength(JSON.stringify(record));
        if (bytes > request.maxBytes) {
          truncated = true;
          break;
        }
        rows.push(record);
      }
    }
    return {
      columns: await this.describeColumns(client, fields, names),
      rows,
      rowCount: rows.length,
      truncated,
      durationMs: Math.round((performance.now() - started) * 100) / 100,
    };
  }

  private async describeColumns(client: pg.PoolClient, fields: pg.FieldDef[], names: string[]) {
    const unknown = [...new Set(fields.map((field) => field.dataTypeID))].filter((oid) => !this.typeNames.has(oid));
    if (unknown.length > 0) {
      const result = await client.query<{ oid: number; name: string }>(
        'SELECT oid::int AS oid, format_type(oid, NULL) AS name FROM pg_catalog.pg_type WHERE oid = ANY($1::oid[])',
        [unknown],
      );
      for (const row of result.rows) this.typeNames.set(row.oid, row.name);
    }
    return fields.map((field, index) => ({
      name: names[index] ?? field.name,
      type: this.typeNames.get(field.dataTypeID) ?? 'unknown',
    }));
  }

  /** Cancels the running statement from a second connection; node-postgres has no in-band cancel. */
  private async cancelBackend(client: pg.PoolClient): Promise<void> {
    const pid = (client as unknown as { processID?: number }).processID;
    if (!pid) return;
    const canceller = new pg.Client({ ...(this.pool.options as pg.ClientConfig), connectionTimeoutMillis: 2000 });
    // Its connection dying (Postgres going down mid-cancel) must fail this best effort, not end the process.
    canceller.on('error', () => undefined);
    try {
      await canceller.connect();
      await canceller.query('SELECT pg_cancel_backend($1)', [pid]);
    } catch {
      // Best effort: the statement timeout still bounds the query.
    } finally {
      await canceller.end().catch(() => undefined);
    }
  }
}

/** Postgres refuses to reuse a prepared statement whose result columns a DDL change altered. */
function isChangedResultType(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return code === '0A000' && message === 'cached plan must not change result type';
}

export function assertSchemaAllowed(schema: string, allowed: readonly string[]): void {
  if (!allowed.includes(schema)) {
    throw new ToolError('NOT_FOUND', `Schema ${schema} is not available; available schemas: ${allowed.join(', ')}.`);
  }
}
