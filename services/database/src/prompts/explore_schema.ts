import type { PromptDefinition } from '@flotilla/runtime';
import { z } from 'zod';
import type { TableSummary } from '../catalog.js';
import type { DatabaseDeps } from '../tool.js';

/** Enough to orient a model on a large schema without spending its context on a catalogue dump. */
const MAX_LISTED_TABLES = 100;

export const exploreSchema: PromptDefinition<DatabaseDeps> = {
  name: 'explore_schema',
  title: 'Explore the schema and answer a question',
  description:
    'Starts a conversation that answers a question from the database: lists the tables the caller may read, ' +
    'with their comments, and the rules for writing one safe, parameterised, bounded query.',
  scopes: ['db:read'],
  args: {
    question: z.string().min(1).max(2000).describe('What the user wants to know, in their own words.'),
    schema: z.string().min(1).max(63).optional().describe('Limit the table list to this schema; all when omitted.'),
  },
  async render({ question, schema }, { principal, signal, deps }) {
    // An unknown schema reaches the client as invalid params, with the message listing the available schemas.
    const tables = await deps.catalog.listTables(principal, signal, schema);
    const { defaultRows, maxRows } = deps.sql.limits;
    return [
      'Answer the question below from the PostgreSQL database, using only the tools of this server.',
      '',
      `Question: ${question}`,
      '',
      tableList(tables, schema),
      '',
      'How to work:',
      '1. Call describe_table for every table you intend to use before writing SQL. Use the column names it shows ' +
        'and join along the foreign keys it lists; never guess a column.',
      '2. Send exactly one SELECT (or WITH … SELECT) per query call. Writes, transaction control, row locks and ' +
        'SELECT INTO are refused.',
      '3. Pass every value that comes from the question or the user as a parameter ($1, $2, …) in params. Never ' +
        'put such a value into the SQL text, not even quoted.',
      '4. Add ORDER BY and LIMIT so the result is small and deterministic, and aggregate in SQL (count, sum, ' +
        'GROUP BY) instead of fetching rows to count them yourself.',
      '5. Before a query over a large table (see the row estimates) or with several joins, call explain with the ' +
        'same sql and params; if the plan scans a large table sequentially, filter on an indexed column first.',
      `6. Results are capped at ${defaultRows} rows by default (maxRows raises it to at most ${maxRows}) and by ` +
        'size. truncated: true means rows are missing: filter, aggregate or page with ORDER BY … LIMIT/OFFSET, ' +
        'and never present a truncated result as complete.',
      '7. When a call fails, read the error: it says what to change.',
      '',
      'Finish with the answer, the SQL you ran and its params, and any assumption you made about the data.',
    ].join('\n');
  },
};

function tableList(tables: readonly TableSummary[], schema: string | undefined): string {
  const where = schema ? `in schema ${schema}` : 'in this database';
  if (tables.length === 0) {
    return `No tables or views ${where} are readable with your access; say so instead of guessing at data.`;
  }
  const lines = tables.slice(0, MAX_LISTED_TABLES).map((table) => {
    const facts = [
      table.kind === 'table' ? undefined : table.kind,
      table.estimatedRows === null ? undefined : `~${table.estimatedRows} rows`,
    ].filter(Boolean);
    const details = facts.length > 0 ? ` (${facts.join(', ')})` : '';
    return `- ${sqlName(table.schema)}.${sqlName(table.name)}${details}: ${table.comment ?? 'no comment'}`;
  });
  const more = tables.length - MAX_LISTED_TABLES;
  if (more > 0) lines.push(`- … and ${more} more; call list_tables to see them all.`);
  return [`Tables and views you may read ${where}, named as SQL must spell them:`, ...lines].join('\n');
}

/** Names PostgreSQL would fold or misparse unquoted are shown quoted, so the model copies a working identifier. */
function sqlName(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}
