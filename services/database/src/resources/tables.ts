import { type ResourceTemplateDefinition, ToolError } from '@flotilla/runtime';
import type { TableSummary } from '../catalog.js';
import type { DatabaseDeps } from '../tool.js';

/** PostgreSQL keeps at most NAMEDATALEN - 1 bytes of an identifier; anything longer cannot name a table. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * One resource per table or view the caller may read, addressed as `postgres://table/{schema}/{table}`.
 * The authority is the fixed word `table`, never the database host, so a URI names a table without
 * saying where the database lives. Both names are percent-encoded, so quoted identifiers with
 * spaces, capitals or `/` round-trip.
 */
export const tables: ResourceTemplateDefinition<DatabaseDeps> = {
  name: 'table',
  title: 'Table description',
  description:
    'The description of one table or view: columns with types, nullability, defaults and comments, the primary ' +
    'key, foreign keys, unique and check constraints, and indexes (the same JSON describe_table returns).',
  uriTemplate: 'postgres://table/{schema}/{table}',
  mimeType: 'application/json',
  scopes: ['db:read'],
  async list({ principal, signal, deps }) {
    const summaries = await deps.catalog.listTables(principal, signal);
    return summaries.map((summary) => ({
      uri: tableUri(summary),
      name: `${summary.schema}.${summary.name}`,
      title: `${capitalize(summary.kind)} ${summary.schema}.${summary.name}`,
      // Without a comment the template's generic description would be shown, which says nothing about this table.
      description: summary.comment ?? `${capitalize(summary.kind)} ${summary.schema}.${summary.name} (no comment).`,
    }));
  },
  async read(_uri, variables, { principal, signal, deps }) {
    const schema = identifier(variables.schema, 'schema');
    const table = identifier(variables.table, 'table');
    return JSON.stringify(await deps.catalog.describeTable(principal, signal, schema, table));
  },
};

function tableUri(table: Pick<TableSummary, 'schema' | 'name'>): string {
  return `postgres://table/${encodeURIComponent(table.schema)}/${encodeURIComponent(table.name)}`;
}

/** The SDK hands template variables over still percent-encoded. */
function identifier(raw: string | undefined, what: 'schema' | 'table'): string {
  let name: string;
  try {
    name = decodeURIComponent(raw ?? '');
  } catch {
    throw new ToolError('INVALID_ARGUMENT', `The ${what} in the URI is not valid percent-encoding.`);
  }
  if (name.length === 0 || name.includes('\0') || Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw new ToolError(
      'INVALID_ARGUMENT',
      `The ${what} must be a PostgreSQL identifier of 1 to ${MAX_IDENTIFIER_BYTES} bytes; use a URI from resources/list.`,
    );
  }
  return name;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
