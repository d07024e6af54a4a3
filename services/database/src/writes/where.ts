import { ToolError } from '@flotilla/runtime';
import type { WhereTerm } from './inputs.js';
import type { ColumnBinder } from './table-writer.js';

const COMPARISONS: Record<string, string> = {
  '=': '=',
  '!=': '<>',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  like: 'LIKE',
  ilike: 'ILIKE',
};

/**
 * Turns structured terms into a WHERE clause of catalog-checked, quoted identifiers and bind
 * parameters. No text from the caller ever becomes SQL.
 */
export function whereClause(terms: readonly WhereTerm[], bind: ColumnBinder): string {
  return terms
    .map((term) => {
      const column = bind.identifier(term.column);
      if (term.op === 'is_null' || term.op === 'is_not_null') {
        if (term.value !== undefined && term.value !== null) {
          throw new ToolError('INVALID_ARGUMENT', `where ${term.column} ${term.op} takes no value; remove it.`);
        }
        return `${column} IS ${term.op === 'is_null' ? '' : 'NOT '}NULL`;
      }
      if (term.value === undefined || term.value === null) {
        throw new ToolError(
          'INVALID_ARGUMENT',
          `where ${term.column} ${term.op} needs a value; to match missing values use op is_null.`,
        );
      }
      if (term.op === 'in' || term.op === 'not_in') {
        if (!Array.isArray(term.value) || term.value.length === 0 || term.value.length > 1000) {
          throw new ToolError(
            'INVALID_ARGUMENT',
            `where ${term.column} ${term.op} needs an array of 1 to 1000 values.`,
          );
        }
        const list = bind.list(term.column, term.value);
        return term.op === 'in' ? `${column} = ANY(${list})` : `${column} <> ALL(${list})`;
      }
      if ((term.op === 'like' || term.op === 'ilike') && typeof term.value !== 'string') {
        throw new ToolError('INVALID_ARGUMENT', `where ${term.column} ${term.op} needs a string pattern.`);
      }
      return `${column} ${COMPARISONS[term.op]} ${bind.value(term.column, term.value)}`;
    })
    .join(' AND ');
}
