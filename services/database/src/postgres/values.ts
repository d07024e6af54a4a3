import pg from 'pg';

/** Turns a value `pg` decoded into JSON: dates as ISO strings, bytea as \x-hex, 64-bit and numeric stay strings. */
export function toJsonValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(toJsonValue);
  return value;
}

/**
 * At least the UTF-8 size of `JSON.stringify(records)`, without serialising them: the rows are
 * serialised once, for the answer, unless this says they may not fit the byte cap. Each UTF-16 code
 * unit of a key or a string takes at most 6 bytes (`\uXXXX`), a number at most 25 characters
 * (`-0.0000012345678901234567`); an array or object (json, jsonb, array columns) makes it
 * Infinity, so that answer is measured exactly.
 */
export function jsonBytesAtMost(records: readonly Record<string, unknown>[]): number {
  let bytes = 2; // the brackets
  for (const record of records) {
    bytes += 3; // the braces and a comma
    for (const key in record) {
      const value = record[key];
      bytes += 6 * key.length + 4; // the key's quotes, the colon and a comma
      if (typeof value === 'string') bytes += 6 * value.length + 2;
      else if (typeof value === 'number') bytes += 25;
      else if (value === null || typeof value === 'boolean') bytes += 5;
      else return Number.POSITIVE_INFINITY;
    }
  }
  return bytes;
}

/** Result columns may repeat a name (`select 1 as a, 2 as a`); suffixes keep every value addressable. */
export function uniqueColumnNames(names: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name}_${count}`;
  });
}

/** Postgres's text for a `timestamptz` in a session whose TimeZone is UTC: `2026-11-21 05:13:19.123456+00`. */
const UTC_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00$/;
const TIMESTAMPTZ_OID = 1184;
const parseTimestamptz = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text');

/**
 * A `timestamptz` straight from its text to the JSON value `toJsonValue` gives its `Date`
 * (`toISOString`: milliseconds, the rest cut off, as `Date` cuts it), without building the `Date`:
 * that parse and its way back were a tenth of a ten-row read's CPU. Text in another time zone,
 * BC dates, years past 9999 and infinities take the `Date` path, so every answer stays the same.
 */
export function timestamptzAsJson(text: string): unknown {
  const match = UTC_TIMESTAMP.exec(text);
  if (!match) return toJsonValue(parseTimestamptz(text));
  const millis = `${match[1]?.slice(1) ?? ''}000`.slice(0, 3);
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${millis}Z`;
}

/** The type parsers of agent reads: pg's own, but `timestamptz` decoded as `timestamptzAsJson` does. */
export const READ_TYPES = {
  getTypeParser(oid: number, format?: string): (text: string) => unknown {
    if (oid === TIMESTAMPTZ_OID && format !== 'binary') return timestamptzAsJson;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};
