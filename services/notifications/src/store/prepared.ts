import { hash } from 'node:crypto';
import type pg from 'pg';

/** Texts named so far; beyond this many, a text runs unnamed (texts here are fixed, so it is never reached). */
const MAX_NAMED = 200;
const names = new Map<string, string>();

/**
 * Runs `text` as a named prepared statement, which each connection parses and plans once instead of
 * on every execution: Postgres's share of accepting and delivering a notification is most of its
 * cost, and half of that was parse and plan (measured with bench/notifications). The name is derived
 * from the text, so one text always has one name and two texts never share one.
 */
export function prepared<Row extends pg.QueryResultRow = pg.QueryResultRow>(
  client: pg.ClientBase | pg.Pool,
  text: string,
  values?: readonly unknown[],
): Promise<pg.QueryResult<Row>> {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `flotilla_${hash('sha256', text).slice(0, 24)}`;
    names.set(text, name);
  }
  return client.query<Row>({ ...(name === undefined ? {} : { name }), text, values: values as unknown[] });
}
