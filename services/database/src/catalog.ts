import type { Principal } from '@flotilla/auth';
import { ToolError } from '@flotilla/runtime';
import { assertSchemaAllowed, type Querier } from './postgres/querier.js';
import type { SchemaCache } from './schema-cache.js';

export interface TableSummary {
  schema: string;
  name: string;
  kind: 'table' | 'view' | 'materialized view' | 'partitioned table' | 'foreign table';
  comment: string | null;
  estimatedRows: number | null;
}

export interface TableDescription {
  schema: string;
  name: string;
  kind: TableSummary['kind'];
  comment: string | null;
  columns: { name: string; type: string; nullable: boolean; default: string | null; comment: string | null }[];
  primaryKey: string[];
  foreignKeys: { name: string; columns: string[]; referencesTable: string; referencesColumns: string[] }[];
  uniqueConstraints: { name: string; columns: string[] }[];
  checkConstraints: { name: string; definition: string }[];
  indexes: { name: string; unique: boolean; primary: boolean; definition: string }[];
}

const KINDS: Record<string, TableSummary['kind']> = {
  r: 'table',
  v: 'view',
  m: 'materialized view',
  p: 'partitioned table',
  f: 'foreign table',
};

/**
 * Schema discovery over pg_catalog, limited to DB_ALLOWED_SCHEMAS and to relations the server's
 * role may read, so the model is never shown a table a query would be refused on. Table lists and
 * descriptions go through the schema cache.
 */
export class Catalog {
  constructor(
    private readonly querier: Querier,
    private readonly allowedSchemas: readonly string[],
    private readonly cache: SchemaCache,
  ) {}

  listSchemas(principal: Principal, signal: AbortSignal) {
    return this.querier.read(principal, signal, (session) =>
      session.query<{ name: string; comment: string | null }>(
        `SELECT n.nspname AS name, obj_description(n.oid, 'pg_namespace') AS comment
           FROM pg_catalog.pg_namespace n
          WHERE n.nspname = ANY($1::text[]) AND has_schema_privilege(n.oid, 'USAGE')
          ORDER BY n.nspname`,
        [this.allowedSchemas],
      ),
    );
  }

  async listTables(principal: Principal, signal: AbortSignal, schema?: string): Promise<TableSummary[]> {
    if (schema) assertSchemaAllowed(schema, this.allowedSchemas);
    return this.cache.get(principal, `tables/${schema ?? '*'}`, () => this.readTables(principal, signal, schema));
  }

  async describeTable(
    principal: Principal,
    signal: AbortSignal,
    schema: string,
    table: string,
  ): Promise<TableDescription> {
    assertSchemaAllowed(schema, this.allowedSchemas);
    return this.cache.get(principal, `table/${encodeURIComponent(schema)}/${encodeURIComponent(table)}`, () =>
      this.readDescription(principal, signal, schema, table),
    );
  }

  private async readTables(principal: Principal, signal: AbortSignal, schema?: string): Promise<TableSummary[]> {
    const rows = await this.querier.read(principal, signal, (session) =>
      session.query<{ schema: string; name: string; relkind: string; comment: string | null; estimated: string }>(
        `SELECT n.nspname AS schema, c.relname AS name, c.relkind, obj_description(c.oid, 'pg_class') AS comment,
                c.reltuples::bigint AS estimated
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
            AND NOT c.relispartition AND has_table_privilege(c.oid, 'SELECT')
          ORDER BY n.nspname, c.relname`,
        [schema ? [schema] : this.allowedSchemas],
      ),
    );
    return rows.map((row) => ({
      schema: row.schema,
      name: row.name,
      kind: KINDS[row.relkind] ?? 'table',
      comment: row.comment,
      // -1 means "never analyzed": unknown, not empty.
      estimatedRows: Number(row.estimated) >= 0 ? Number(row.estimated) : null,
    }));
  }

  private readDescription(
    principal: Principal,
    signal: AbortSignal,
    schema: string,
    table: string,
  ): Promise<TableDescription> {
    return this.querier.read(principal, signal, async (session) => {
      const [relation] = await session.query<{ oid: number; relkind: string; comment: string | null }>(
        `SELECT c.oid::int AS oid, c.relkind, obj_description(c.oid, 'pg_class') AS comment
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
            AND has_table_privilege(c.oid, 'SELECT')`,
        [schema, table],
      );
      if (!relation) {
        throw new ToolError(
          'NOT_FOUND',
          `Table ${schema}.${table} does not exist or is not readable; call list_tables to see what is.`,
        );
      }
      const columns = await session.query<TableDescription['columns'][number]>(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
                pg_get_expr(d.adbin, d.adrelid) AS default, col_description(a.attrelid, a.attnum) AS comment
           FROM pg_catalog.pg_attribute a
           LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`,
        [relation.oid],
      );
      const constraints = await session.query<{
        name: string;
        type: string;
        definition: string;
        columns: string[];
        references_table: string | null;
        references_columns: string[];
      }>(
        `SELECT con.conname AS name, con.contype::text AS type, pg_get_constraintdef(con.oid) AS definition,
                ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                       ORDER BY k.ord) AS columns,
                CASE WHEN con.contype = 'f' THEN con.confrelid::regclass::text END AS references_table,
                ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                       ORDER BY k.ord) AS references_columns
           FROM pg_catalog.pg_constraint con
          WHERE con.conrelid = $1 AND con.contype IN ('p', 'f', 'u', 'c')
          ORDER BY con.conname`,
        [relation.oid],
      );
      const indexes = await session.query<TableDescription['indexes'][number]>(
        `SELECT i.relname AS name, ix.indisunique AS unique, ix.indisprimary AS primary,
                pg_get_indexdef(ix.indexrelid) AS definition
           FROM pg_catalog.pg_index ix JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid
          WHERE ix.indrelid = $1
          ORDER BY i.relname`,
        [relation.oid],
      );
      const ofType = (type: string) => constraints.filter((constraint) => constraint.type === type);
      return {
        schema,
        name: table,
        kind: KINDS[relation.relkind] ?? 'table',
        comment: relation.comment,
        columns,
        primaryKey: ofType('p')[0]?.columns ?? [],
        foreignKeys: ofType('f').map((fk) => ({
          name: fk.name,
          columns: fk.columns,
          referencesTable: fk.references_table ?? '',
          referencesColumns: fk.references_columns,
        })),
        uniqueConstraints: ofType('u').map((unique) => ({ name: unique.name, columns: unique.columns })),
        checkConstraints: ofType('c').map((check) => ({ name: check.name, definition: check.definition })),
        indexes,
      };
    });
  }
}
