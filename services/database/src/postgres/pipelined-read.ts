import pg from 'pg';
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

/** Named statements kept prepared per connection; the least recently used is closed beyond this. */
const MAX_PREPARED_PER_CONNECTION = 100;

const BEGIN = 'BEGIN READ ONLY';
const ROLLBACK = 'ROLLBACK';
const SETTINGS =
  "SELECT set_config('statement_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true), " +
  "set_config('search_path', $3, true)";
const SETTINGS_WITH_TENANT = `${SETTINGS}, set_config('flotilla.tenant', $4, true)`;

/**
 * One agent read in one round trip: BEGIN READ ONLY, the transaction's settings, the statement
 * with Execute limited to `limit` rows, ROLLBACK and a single Sync are written together, and
 * Postgres answers them all with one ReadyForQuery. Each statement is prepared by name once per
 * connection, so repeated statements skip Postgres's parse and analysis. Postgres never sends a row
 * past the limit. A statement that fails stops the pipeline before its ROLLBACK: the caller must
 * then roll back (the transaction is left aborted).
 */
export function pipelinedRead(
  client: pg.PoolClient,
  settings: ReadSettings,
  statement: { sql: string; params: readonly unknown[]; limit: number },
): Promise<BoundedRows> {
  const statements = preparedStatementsOf(client);
  return new Promise((resolve, reject) => {
    client.query(
      new PipelinedRead(statements, settings, statement, (error, result) => {
        if (error) reject(error);
        else resolve(result);
      }),
    );
  });
}

/** The parts of pg's Connection (lib/connection.js) the pipeline writes with. */
interface Connection {
  parse(options: { name: string; text: string }): void;
  bind(options: { statement: string; values: readonly unknown[]; valueMapper?: (value: unknown) => unknown }): void;
  describe(options: { type: 'P'; name: string }): void;
  execute(options: { portal: string; rows: number }): void;
  close(options: { type: 'S'; name: string }): void;
  sync(): void;
}

/**
 * The names one connection has prepared, least recently used first. A name is trusted only after
 * the pipeline that parsed it succeeded; after a failure, every name that pipeline introduced (and
 * the failed statement's) is closed at the start of the connection's next pipeline (closing an
 * unknown name is not an error) and never used again.
 */
class PreparedStatements {
  private readonly names = new Map<string, string>();
  private readonly pending = new Set<string>();
  private closing: string[] = [];
  private counter = 0;

  /** The statement's name, and whether this pipeline must parse it first. */
  use(sql: string): { name: string; parse: boolean } {
    const known = this.names.get(sql);
    this.names.delete(sql);
    if (known !== undefined) {
      this.names.set(sql, known);
      return { name: known, parse: this.pending.has(known) };
    }
    const name = `flotilla_${++this.counter}`;
    this.names.set(sql, name);
    this.pending.add(name);
    if (this.names.size > MAX_PREPARED_PER_CONNECTION) {
      const [oldestSql, oldestName] = this.names.entries().next().value as [string, string];
      this.names.delete(oldestSql);
      this.closing.push(oldestName);
    }
    return { name, parse: true };
  }

  /** Names to close before anything else in the next pipeline. */
  takeClosing(): string[] {
    const names = this.closing;
    this.closing = [];
    return names;
  }

  succeeded(): void {
    this.pending.clear();
  }

  /** Forgets what the failed pipeline introduced, and `statement` too (its plan may be what failed). */
  failed(statement: string): void {
    for (const [sql, name] of this.names) {
      if (this.pending.has(name) || sql === statement) {
        this.names.delete(sql);
        this.closing.push(name);
      }
    }
    this.pending.clear();
  }
}

const byConnection = new WeakMap<object, PreparedStatements>();

function preparedStatementsOf(client: pg.PoolClient): PreparedStatements {
  const key = (client as unknown as { connection: object }).connection;
  let statements = byConnection.get(key);
  if (!statements) {
    statements = new PreparedStatements();
    byConnection.set(key, statements);
  }
  return statements;
}

/** Parameters reach Postgres as text; the tool's schema allows only strings, numbers, booleans and null. */
function asText(value: unknown): unknown {
  return value === null || value === undefined ? null : String(value);
}

/** The agent's statement is the third to complete, after BEGIN and the settings. */
const STATEMENT_STAGE = 2;

/** The parts of pg's Query (lib/query.js) this class builds on; @types/pg does not declare them. */
interface QueryInternals {
  _result: { addCommandComplete(message: unknown): void };
  handleDataRow(message: unknown): void;
}
const queryInternals = pg.Query.prototype as unknown as QueryInternals;

/**
 * pg's Query, written differently: `prepare` writes the whole pipeline, and the handlers count
 * completions to know which statement an answer belongs to. Only the agent's statement is
 * described, so only its rows are decoded (with pg's type parsers) and kept.
 */
class PipelinedRead extends pg.Query {
  private stage = 0;
  private more = false;

  constructor(
    private readonly statements: PreparedStatements,
    private readonly settings: ReadSettings,
    private readonly statement: { sql: string; params: readonly unknown[]; limit: number },
    done: (error: Error | null, result: BoundedRows) => void,
  ) {
    super({
      text: statement.sql,
      rowMode: 'array',
      types: READ_TYPES,
      queryMode: 'extended',
      callback: (error: Error | null, result: pg.QueryResult) => {
        if (error) this.statements.failed(statement.sql);
        else this.statements.succeeded();
        done(error, { fields: result?.fields ?? [], rows: (result?.rows ?? []) as unknown[][], more: this.more });
      },
    } as pg.QueryConfig);
  }

  requiresPreparation(): boolean {
    return true;
  }

  /** Called by pg's Query.submit with the socket corked, so everything leaves in one write. */
  prepare(connection: Connection): void {
    const { settings, statement } = this;
    const timeout = String(settings.statementTimeoutMs);
    const idleTimeout = String(settings.statementTimeoutMs * 2);
    const steps = [
      { sql: BEGIN, values: [] as readonly unknown[], rows: 0, describe: false },
      settings.tenant === undefined
        ? { sql: SETTINGS, values: [timeout, idleTimeout, settings.searchPath], rows: 0, describe: false }
        : {
            sql: SETTINGS_WITH_TENANT,
            values: [timeout, idleTimeout, settings.searchPath, settings.tenant],
            rows: 0,
            describe: false,
          },
      { sql: statement.sql, values: statement.params, rows: statement.limit, describe: true },
      { sql: ROLLBACK, values: [], rows: 0, describe: false },
    ].map((step) => ({ ...step, ...this.statements.use(step.sql) }));
    // Names are resolved first, so what they evicted is closed before the first statement runs.
    for (const name of this.statements.takeClosing()) connection.close({ type: 'S', name });
    for (const step of steps) {
      if (step.parse) connection.parse({ name: step.name, text: step.sql });
      connection.bind({ statement: step.name, values: step.values, valueMapper: asText });
      if (step.describe) connection.describe({ type: 'P', name: '' });
      connection.execute({ portal: '', rows: step.rows });
    }
    connection.sync();
  }

  handleDataRow(message: unknown): void {
    if (this.stage === STATEMENT_STAGE) queryInternals.handleDataRow.call(this, message);
  }

  handleCommandComplete(message: unknown): void {
    if (this.stage === STATEMENT_STAGE) (this as unknown as QueryInternals)._result.addCommandComplete(message);
    this.stage += 1;
  }

  handlePortalSuspended(): void {
    this.more = true;
    this.stage += 1;
  }

  handleEmptyQuery(): void {
    this.stage += 1;
  }
}
