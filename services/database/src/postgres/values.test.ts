import { describe, expect, it } from 'vitest';
import { jsonBytesAtMost } from './values.js';

const exactBytes = (records: Record<string, unknown>[]) => Buffer.byteLength(JSON.stringify(records));

describe('jsonBytesAtMost', () => {
  it('is never below the serialised size, whatever the strings, numbers and keys hold', () => {
    const awkward = [
      '',
      'plain',
      'quote " and backslash \\',
      'control \u0000\u0001\u001f\n\t\r',
      'ünïcödé',
      '日本語のテキスト',
      'emoji 😀👍🏽',
      'lone surrogate \ud800 and \udfff',
      '\u2028\u2029',
      '"'.repeat(50),
      '\u0000'.repeat(50),
    ];
    const numbers = [0, -0, 1, -1, 1e21, -1.7976931348623157e308, 5e-324, -0.0000012345678901234567, 123456789.125];
    const keys = ['id', 'naïve "key"', '\u0000', 'column_1', '日本'];
    const records: Record<string, unknown>[] = [];
    for (let index = 0; index < 200; index += 1) {
      const record: Record<string, unknown> = {};
      keys.forEach((key, position) => {
        const pick = (index + position) % 4;
        record[key] =
          pick === 0
            ? awkward[(index * 7 + position) % awkward.length]
            : pick === 1
              ? numbers[(index * 3 + position) % numbers.length]
              : pick === 2
                ? null
                : index % 2 === 0;
      });
      records.push(record);
    }
    for (let count = 0; count <= records.length; count += 13) {
      const slice = records.slice(0, count);
      expect(jsonBytesAtMost(slice)).toBeGreaterThanOrEqual(exactBytes(slice));
    }
    for (const text of awkward)
      expect(jsonBytesAtMost([{ [text]: text }])).toBeGreaterThanOrEqual(exactBytes([{ [text]: text }]));
    for (const value of numbers)
      expect(jsonBytesAtMost([{ n: value }])).toBeGreaterThanOrEqual(exactBytes([{ n: value }]));
  });

  it('gives up on arrays and objects, which only serialising measures', () => {
    expect(jsonBytesAtMost([{ id: 1, tags: ['a', 'b'] }])).toBe(Number.POSITIVE_INFINITY);
    expect(jsonBytesAtMost([{ id: 1, doc: { deep: { er: 'x' } } }])).toBe(Number.POSITIVE_INFINITY);
  });

  it('stays within a small multiple of an ordinary read, so that read is serialised only once', () => {
    const rows = Array.from({ length: 10 }, (_, index) => ({
      id: index + 1,
      customer_id: 42,
      status: 'shipped',
      total_cents: 12_345,
      created_at: '2026-11-21T05:13:19.123Z',
    }));
    expect(jsonBytesAtMost(rows)).toBeLessThan(8 * exactBytes(rows));
    expect(jsonBytesAtMost([])).toBe(exactBytes([]));
  });
});
