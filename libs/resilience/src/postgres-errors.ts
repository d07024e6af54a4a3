const TRANSIENT_NODE_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);

/**
 * Lost connections, restarts, overload, serialization failures and deadlocks are worth another
 * try; an error the statement itself caused (syntax, permissions, cancellation) is not. Shared by
 * every server that talks to PostgreSQL, so they retry the same things.
 */
export function isTransientPostgresError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') {
    return (
      error instanceof Error && /Connection terminated|timeout exceeded when trying to connect/i.test(error.message)
    );
  }
  if (TRANSIENT_NODE_ERRORS.has(code)) return true;
  // 08P01 is also what Postgres answers a statement given the wrong number of parameters: the
  // caller's mistake, not a broken connection.
  if (code === '08P01') return false;
  return code.startsWith('08') || ['57P01', '57P02', '57P03', '53300', '40001', '40P01'].includes(code);
}
