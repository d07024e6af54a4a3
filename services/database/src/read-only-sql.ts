import type { Principal } from '@flotilla/auth';
import { ToolError } from '@flotilla/runtime';
import type { Querier, RowsResult } from './postgres/querier.js';
import { checkReadOnlyStatement, type GuardVerdict } from './sql/read-only-guard.js';

const MAX_CACHED_VERDICTS = 1000;
const MAX_CACHED_SQL_LENGTH = 10_000;

export interface ResultLimits {
  defaultRows: number;
  maxRows: number;
  maxBytes: number;
}

/**
 * Agent-written SQL, behind layer 1 (the parser guard) and layer 2 (the read-only transaction).
 * Layer 3, the login role's grants, lives in the database itself (sql/runtime-role.sql).
 */
export class ReadOnlySql {
  /** The parser's verdict per exact SQL text: deterministic, so it can be reused. */
  private readonly verdicts = new Map<string, GuardVerdict>();

  constructor(
    private readonly querier: Querier,
    readonly limits: ResultLimits,
  ) {}

  async select(
    principal: Principal,
    signal: AbortSignal,
    request: { sql: string; params: readonly unknown[]; maxRows?: number },
  ): Promise<RowsResult> {
    await this.guard(request.sql);
    const maxRows = Math.min(request.maxRows ?? this.limits.defaultRows, this.limits.maxRows);
    return this.querier.select(principal, signal, {
      sql: request.sql,
      params: request.params,
      maxRows,
      maxBytes: this.limits.maxBytes,
    });
  }

  async explain(principal: Principal, signal: AbortSignal, request: { sql: string; params: readonly unknown[] }) {
    await this.guard(request.sql);
    // Without ANALYZE: the plan is computed, the statement is never executed.
    const [row] = await this.querier.read(principal, signal, (session) =>
      session.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON, VERBOSE) ${request.sql}`, request.params),
    );
    const plan = (row?.['QUERY PLAN'] as { Plan?: Record<string, unknown> }[] | undefined)?.[0]?.Plan;
    if (!plan) throw new ToolError('INTERNAL', 'PostgreSQL returned no plan.');
    return plan;
  }

  private async guard(sql: string): Promise<void> {
    let verdict = this.verdicts.get(sql);
    if (!verdict) {
      verdict = await checkReadOnlyStatement(sql);
      // Agents repeat the same parameterised statements; parsing each once saves most of the guard's cost.
      if (sql.length <= MAX_CACHED_SQL_LENGTH) {
        if (this.verdicts.size >= MAX_CACHED_VERDICTS) this.verdicts.clear();
        this.verdicts.set(sql, verdict);
      }
    }
    if (!verdict.ok) throw new ToolError(verdict.kind === 'invalid' ? 'INVALID_ARGUMENT' : 'FORBIDDEN', verdict.reason);
  }
}
