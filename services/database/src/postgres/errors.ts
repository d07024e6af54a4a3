import { isTransientPostgresError } from '@flotilla/resilience';
import { ToolError } from '@flotilla/runtime';

/** Maps a PostgreSQL error to a tool error a model can act on. Server messages are kept; details and internals are not. */
export function toToolError(error: unknown, context: { timedOut: boolean; statementTimeoutMs: number }): ToolError {
  if (error instanceof ToolError) return error;
  const pg = error as { code?: string; message?: string; hint?: string; position?: string };
  const code = pg.code ?? '';
  const hint = pg.hint ? ` Hint: ${pg.hint}` : '';
  const message = `${pg.message ?? 'query failed'}${hint}`;
  if (code === '57014') {
    return context.timedOut
      ? new ToolError('TIMEOUT', 'The query was cancelled.')
      : new ToolError(
          'TIMEOUT',
          `The query exceeded the ${context.statementTimeoutMs} ms statement timeout and was cancelled; add filters or a LIMIT.`,
        );
  }
  if (code === '25006') return new ToolError('FORBIDDEN', `${message}. This server only reads.`);
  if (code === '42501')
    return new ToolError('FORBIDDEN', `${message}. The server's database role has no access to it.`);
  if (code === '53300' || isTransientPostgresError(error)) {
    return new ToolError('UNAVAILABLE', 'The database is unavailable right now; retry shortly.', {
      retryAfterMs: 1000,
      cause: error,
    });
  }
  // A duplicate key or an exclusion constraint: the row the model wants to write clashes with one that exists.
  if (code === '23505' || code === '23P01') {
    return new ToolError('CONFLICT', `${message}. Read the existing row first, or change a different one.`);
  }
  // Syntax (42601), undefined objects (42P01, 42703, 42883), type and data errors (42804, 22xxx), bad parameters
  // (08P01, 42P02), and values a constraint refuses (not-null 23502, foreign key 23503, check 23514).
  if (/^(42|22|2F|08P01|0A|23502|23503|23514)/.test(code)) {
    const position = pg.position ? ` (at character ${pg.position})` : '';
    return new ToolError('INVALID_ARGUMENT', `${message}${position}`);
  }
  return new ToolError('INTERNAL', 'The database reported an unexpected error.', { cause: error });
}
