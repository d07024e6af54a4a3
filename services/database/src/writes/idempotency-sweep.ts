import type pg from 'pg';

// Undefined function or permission denied: a database bootstrapped by an older runtime-role.sql.
const MISSING_FUNCTION_CODES = ['42883', '42501'];

/**
 * Deletes at most `limit` expired idempotency records of any tenant in one statement, and returns how
 * many. Row-level security keeps the runtime role to one tenant's records, so it goes through
 * flotilla.delete_expired_idempotency_keys (sql/runtime-role.sql), which decides what expired means
 * itself and never touches a record inside the window. The role's sessions default to read-only.
 */
export async function deleteExpiredKeys(pool: pg.Pool, limit: number, statementTimeoutMs: number): Promise<number> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(`BEGIN READ WRITE; SET LOCAL statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
    const { rows } = await client.query<{ deleted: number }>(
      'SELECT flotilla.delete_expired_idempotency_keys($1) AS deleted',
      [limit],
    );
    await client.query('COMMIT');
    return rows[0]?.deleted ?? 0;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** What the operator should do when the sweep fails for want of the function (the BatchSweep's hintFor). */
export function sweepFunctionHint(error: { code?: string }): string | undefined {
  return MISSING_FUNCTION_CODES.includes(error.code ?? '')
    ? 'apply the current sql/runtime-role.sql: it creates and grants flotilla.delete_expired_idempotency_keys'
    : undefined;
}
