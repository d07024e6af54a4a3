import type { Principal } from '@flotilla/auth';
import { ToolError } from '@flotilla/runtime';
import pg from 'pg';
import type { Catalog, TableDescription } from '../catalog.js';
import type { Querier, WriteSession } from '../postgres/querier.js';
import { toJsonValue } from '../postgres/values.js';
import { fingerprintOf, type IdempotencyRecords } from './idempotency.js';
import type { WhereTerm, WriteResult } from './inputs.js';
import { whereClause } from './where.js';

type Value = unknown;
type Row = Record<string, Value>;

interface TableRef {
  schema?: string | undefined;
  table: string;
}

interface Common extends TableRef {
  returning?: string[] | undefined;
  idempotencyKey?: string | undefined;
}

export interface InsertRequest extends Common {
  rows: Row[];
}

export interface UpdateRequest extends Common {
  set: Row;
  where: WhereTerm[];
  expectedCount?: number | undefined;
}

export interface DeleteRequest extends Common {
  where: WhereTerm[];
  expectedCount?: number | undefined;
}

/** Quotes catalog-checked column names and turns values into bind parameters ($n). */
export interface ColumnBinder {
  identifier(column: string): string;
  value(column: string, value: Value): string;
  list(column: string, values: Value[]): string;
}

/** Postgres accepts at most 65535 bind parameters in one statement. */
const MAX_PARAMS = 65_535;

/**
 * Structured writes: the caller names a table, columns and values; this checks every name against
 * the catalog and DB_WRITABLE_TABLES, quotes identifiers, binds every value, and runs the statement
 * in a read-write transaction that `expectedCount` and errors roll back.
 */
export class TableWriter {
  private readonly writable: ReadonlySet<string>;

  constructor(
    private readonly querier: Querier,
    private readonly catalog: Catalog,
    private readonly idempotency: IdempotencyRecords,
    private readonly settings: { writableTables: readonly string[]; defaultSchema: string; maxRows: number },
  ) {
    this.writable = new Set(settings.writableTables.map((name) => this.qualify(name)));
  }

  async insert(principal: Principal, signal: AbortSignal, request: InsertRequest): Promise<WriteResult> {
    const table = await this.resolve(principal, signal, request);
    const columns = [...new Set(request.rows.flatMap((row) => Object.keys(row)))];
    if (columns.length === 0) {
      throw new ToolError('INVALID_ARGUMENT', 'Each row needs at least one column value.');
    }
    if (columns.length * request.rows.length > MAX_PARAMS) {
      throw new ToolError('TOO_LARGE', 'Too many values in one call; insert the rows in smaller batches.');
    }
    const bind = binderFor(table);
    const columnList = columns.map((column) => bind.identifier(column)).join(', ');
    const values = request.rows
      .map(
        (row) =>
          `(${columns.map((column) => (column in row ? bind.value(column, row[column]) : 'DEFAULT')).join(', ')})`,
      )
      .join(', ');
    const sql = `INSERT INTO ${target(table)} (${columnList}) VALUES ${values}${this.returning(table, bind, request)}`;
    return this.run(principal, signal, 'insert_rows', request, { sql, params: bind.params });
  }

  async update(principal: Principal, signal: AbortSignal, request: UpdateRequest): Promise<WriteResult> {
    const table = await this.resolve(principal, signal, request);
    const bind = binderFor(table);
    const assignments = Object.entries(request.set).map(
      ([column, value]) => `${bind.identifier(column)} = ${bind.value(column, value)}`,
    );
    if (assignments.length === 0) throw new ToolError('INVALID_ARGUMENT', 'set needs at least one column to change.');
    const where = whereClause(request.where, bind);
    const sql = `UPDATE ${target(table)} SET ${assignments.join(', ')} WHERE ${where}${this.returning(table, bind, request)}`;
    return this.run(principal, signal, 'update_rows', request, { sql, params: bind.params }, request.expectedCount);
  }

  async delete(principal: Principal, signal: AbortSignal, request: DeleteRequest): Promise<WriteResult> {
    const table = await this.resolve(principal, signal, request);
    const bind = binderFor(table);
    const where = whereClause(request.where, bind);
    const sql = `DELETE FROM ${target(table)} WHERE ${where}${this.returning(table, bind, request)}`;
    return this.run(principal, signal, 'delete_rows', request, { sql, params: bind.params }, request.expectedCount);
  }

  private async run(
    principal: Principal,
    signal: AbortSignal,
    tool: string,
    request: Common,
    statement: { sql: string; params: Value[] },
    expected?: number,
  ): Promise<WriteResult> {
    const key = request.idempotencyKey;
    const fingerprint = key ? fingerprintOf(tool, { ...request, idempotencyKey: undefined }) : '';
    return this.querier.write(principal, signal, async (session) => {
      if (key) {
        const earlier = await this.claim(session, key, fingerprint);
        if (earlier) return earlier;
      }
      const outcome = await session.execute(statement.sql, statement.params);
      if (expected !== undefined && outcome.rowCount !== expected) {
        throw new ToolError(
          'PRECONDITION_FAILED',
          `expectedCount was ${expected} but the change matched ${outcome.rowCount} row(s), so nothing was changed. ` +
            'Check the where terms (query the rows first), then retry with the right expectedCount.',
        );
      }
      const result: WriteResult = {
        rowCount: outcome.rowCount,
        rows: outcome.rows.slice(0, this.settings.maxRows).map(jsonRow),
        truncated: outcome.rows.length > this.settings.maxRows,
        replayed: false,
      };
      if (key) await this.idempotency.complete(session, key, result);
      return result;
    });
  }

  private async claim(session: WriteSession, key: string, fingerprint: string) {
    try {
      return await this.idempotency.claim(session, key, fingerprint);
    } catch (error) {
      if ((error as { code?: string }).code === '42P01') {
        throw new ToolError(
          'PRECONDITION_FAILED',
          'idempotencyKey is not available: this database lacks flotilla.idempotency_keys (an operator installs it ' +
            'with sql/runtime-role.sql). Retry without idempotencyKey only if a duplicate change is acceptable.',
        );
      }
      throw error;
    }
  }

  /** The table, if it exists, is readable, and is listed in DB_WRITABLE_TABLES. */
  private async resolve(principal: Principal, signal: AbortSignal, ref: TableRef): Promise<TableDescription> {
    const schema = ref.schema ?? this.settings.defaultSchema;
    const table = await this.catalog.describeTable(principal, signal, schema, ref.table);
    if (!this.writable.has(`${schema}.${ref.table}`)) {
      const writable = [...this.writable].join(', ');
      throw new ToolError(
        'FORBIDDEN',
        `Table ${schema}.${ref.table} is read-only on this server; writable tables: ${writable}.`,
      );
    }
    return table;
  }

  private returning(table: TableDescription, bind: ColumnBinder, request: Common): string {
    const columns = request.returning ?? table.primaryKey;
    return columns.length > 0 ? ` RETURNING ${columns.map((column) => bind.identifier(column)).join(', ')}` : '';
  }

  private qualify(name: string): string {
    return name.includes('.') ? name : `${this.settings.defaultSchema}.${name}`;
  }
}

function target(table: TableDescription): string {
  return `${pg.escapeIdentifier(table.schema)}.${pg.escapeIdentifier(table.name)}`;
}

function jsonRow(row: Row): Row {
  return Object.fromEntries(Object.entries(row).map(([column, value]) => [column, toJsonValue(value)]));
}

/** A binder over one table's columns that collects the statement's parameters in order. */
function binderFor(table: TableDescription): ColumnBinder & { params: Value[] } {
  const types = new Map(table.columns.map((column) => [column.name, column.type]));
  const params: Value[] = [];
  const typeOf = (column: string): string => {
    const type = types.get(column);
    if (type === undefined) {
      const known = table.columns.map((c) => c.name).join(', ');
      throw new ToolError(
        'INVALID_ARGUMENT',
        `Table ${table.schema}.${table.name} has no column ${JSON.stringify(column)}; its columns are: ${known}.`,
      );
    }
    return type;
  };
  const placeholder = (value: Value) => {
    params.push(value);
    return `$${params.length}`;
  };
  return {
    params,
    identifier: (column) => {
      typeOf(column);
      return pg.escapeIdentifier(column);
    },
    value: (column, value) => placeholder(toParameter(column, typeOf(column), value)),
    list: (column, values) => {
      const type = typeOf(column);
      return placeholder(values.map((value) => toParameter(column, type, value)));
    },
  };
}

/** JSON columns take any JSON (sent as its text); array columns take arrays; every other column a scalar. */
function toParameter(column: string, type: string, value: Value): Value {
  if (value === null) return null;
  if (type === 'json' || type === 'jsonb') return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (type.endsWith('[]')) return value;
    throw new ToolError('INVALID_ARGUMENT', `Column ${column} is ${type}; pass a single value, not an array.`);
  }
  if (typeof value === 'object') {
    throw new ToolError('INVALID_ARGUMENT', `Column ${column} is ${type}; pass a string, number or boolean.`);
  }
  return value;
}
