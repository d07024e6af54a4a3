import { createHash } from 'node:crypto';
import { ToolError } from '@flotilla/runtime';
import type { WriteSession } from '../postgres/querier.js';
import type { WriteResult } from './inputs.js';

/**
 * How long a key is remembered; a retry after that changes rows again. The sweep's function in
 * sql/runtime-role.sql has the same 24 hours written into it.
 */
export const IDEMPOTENCY_WINDOW = '24 hours';

/**
 * Idempotency records live in Postgres (`flotilla.idempotency_keys`, created by sql/runtime-role.sql)
 * and are written in the same transaction as the change they describe: a crash can neither leave
 * a change without its record nor a record without its change, and a second replica handling the
 * same key concurrently waits on the key's unique index until the first commits, then replays its result.
 * Expired records of every tenant are removed by the periodic sweep (idempotency-sweep.ts).
 */
export class IdempotencyRecords {
  /** Claims `key` for this transaction, or returns the result stored for it by an earlier call. */
  async claim(session: WriteSession, key: string, fingerprint: string): Promise<WriteResult | undefined> {
    // An expired record of this key may still wait for the sweep; it no longer counts, so it goes now.
    await session.execute(
      `DELETE FROM flotilla.idempotency_keys WHERE key = $1 AND created_at < now() - interval '${IDEMPOTENCY_WINDOW}'`,
      [key],
    );
    const claimed = await session.execute(
      `INSERT INTO flotilla.idempotency_keys (key, fingerprint) VALUES ($1, $2)
       ON CONFLICT (tenant, key) DO NOTHING RETURNING key`,
      [key, fingerprint],
    );
    if (claimed.rowCount === 1) return undefined;
    const [earlier] = (
      await session.execute<{ fingerprint: string; result: WriteResult | null }>(
        'SELECT fingerprint, result FROM flotilla.idempotency_keys WHERE key = $1',
        [key],
      )
    ).rows;
    if (!earlier?.result || earlier.fingerprint !== fingerprint) {
      throw new ToolError(
        'CONFLICT',
        `idempotencyKey ${JSON.stringify(key)} was already used for a different change; use a new key for a new change.`,
      );
    }
    return { ...earlier.result, replayed: true };
  }

  async complete(session: WriteSession, key: string, result: WriteResult): Promise<void> {
    await session.execute('UPDATE flotilla.idempotency_keys SET result = $2 WHERE key = $1', [
      key,
      JSON.stringify(result),
    ]);
  }
}

/** What a key stands for: the tool and its arguments, independent of property order. */
export function fingerprintOf(tool: string, input: unknown): string {
  return createHash('sha256').update(canonicalJson({ tool, input })).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
