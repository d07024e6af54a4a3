import { type FuncCall, hasSqlDetails, type ParseResult, parse } from 'libpg-query';

/** `invalid`: the text is not one parseable statement; `not_read_only`: it parses but is not a plain read. */
export type GuardVerdict = { ok: true } | { ok: false; reason: string; kind: 'invalid' | 'not_read_only' };

/**
 * Functions refused anywhere in a query. Names are compared lowercased against the last part of the call's name, so
 * schema-qualified calls (`pg_catalog.set_config`) are caught too.
 */
export const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  // Changes session/transaction settings (e.g. role, tenant, statement_timeout) and so could undo the other layers.
  'set_config',
  // Read, list or write files on the database server's filesystem.
  'pg_read_file',
  'pg_read_binary_file',
  'pg_ls_dir',
  'pg_stat_file',
  'pg_ls_logdir',
  'pg_ls_waldir',
  'pg_ls_tmpdir',
  'pg_ls_archive_statusdir',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_logdir_ls',
  'pg_ls_logicalsnapdir',
  'pg_ls_logicalmapdir',
  'pg_ls_replslotdir',
  'pg_file_sync',
  // Large objects: import/export server files and create, change or delete stored objects.
  'lo_import',
  'lo_export',
  'lo_open',
  'lo_create',
  'lo_creat',
  'lo_unlink',
  'lo_put',
  'lo_get',
  'lo_from_bytea',
  'lo_truncate',
  'lo_write',
  'lowrite',
  'loread',
  'lo_lseek',
  'lo_close',
  // dblink opens a separate connection whose statements escape this session's read-only transaction.
  'dblink',
  'dblink_exec',
  'dblink_connect',
  'dblink_connect_u',
  'dblink_send_query',
  'dblink_open',
  'dblink_fetch',
  'dblink_get_result',
  'dblink_disconnect',
  // Signal other backends or administer the server (config reload, WAL, promotion, replication slots and origins).
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_promote',
  'pg_switch_wal',
  'pg_create_restore_point',
  'pg_logical_emit_message',
  'pg_drop_replication_slot',
  'pg_create_logical_replication_slot',
  'pg_create_physical_replication_slot',
  'pg_replication_origin_create',
  'pg_replication_slot_advance',
  'pg_log_backend_memory_contexts',
  'pg_wal_replay_pause',
  'pg_wal_replay_resume',
  'pg_backup_start',
  'pg_backup_stop',
  // Run arbitrary SQL text given as a string argument, which the parser cannot see into.
  'query_to_xml',
  'query_to_xml_and_xmlschema',
  'query_to_xmlschema',
  'cursor_to_xml',
  'cursor_to_xmlschema',
  // Advance or reset sequences: a write that is not rolled back.
  'nextval',
  'setval',
  // Sends a notification to other sessions.
  'pg_notify',
]);

/** Advisory locks outlive the query in session scope and can block other clients, so every variant is refused. */
export const DENIED_FUNCTION_PREFIXES: readonly string[] = [
  'pg_advisory_',
  'pg_try_advisory_',
  // Statistics resets and replication-slot copies change server state.
  'pg_stat_reset',
  'pg_copy_',
];

const DATA_MODIFYING_NODES: ReadonlyMap<string, string> = new Map([
  ['InsertStmt', 'INSERT'],
  ['UpdateStmt', 'UPDATE'],
  ['DeleteStmt', 'DELETE'],
  ['MergeStmt', 'MERGE'],
]);

const READ_ONLY = 'this tool is read-only and runs exactly one SELECT (VALUES, TABLE and UNION are fine).';

// Hints for statements a model is likely to try; anything else gets the generic refusal.
const STATEMENT_HINTS: Readonly<Record<string, string>> = {
  TransactionStmt: `Transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT) is not allowed; ${READ_ONLY}`,
  VariableSetStmt: `SET and RESET are not allowed, session settings are managed by the server; ${READ_ONLY}`,
  VariableShowStmt: "SHOW is not allowed; use SELECT current_setting('name') instead.",
  ExplainStmt: 'EXPLAIN is not allowed in this tool; use the explain tool with the plain query instead.',
  CopyStmt: `COPY is not allowed; use a SELECT to read the rows, ${READ_ONLY}`,
};

const LOCKING_REFUSAL =
  'Row-locking clauses (FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE) are not allowed; ' +
  'remove the locking clause, this tool is read-only.';

// Parser messages quote the offending token, which for an unterminated string is the rest of the input.
const MAX_MESSAGE_LENGTH = 200;

/** Layer 1 of read-only enforcement: parse with the real PostgreSQL parser and accept exactly one read statement. */
export async function checkReadOnlyStatement(sql: string): Promise<GuardVerdict> {
  // libpg-query throws a generic error on '' instead of returning no statements.
  if (sql.length === 0) return refuse('The query is empty; send exactly one SELECT statement.', 'invalid');

  let result: ParseResult;
  try {
    result = await parse(sql);
  } catch (error) {
    if (hasSqlDetails(error) && error.sqlDetails) {
      return refuse(
        `SQL syntax error at position ${error.sqlDetails.cursorPosition}: ${clip(error.message)}`,
        'invalid',
      );
    }
    // Fail closed: anything the parser cannot handle is not known to be a read.
    return refuse(
      `The query could not be parsed: ${clip(error instanceof Error ? error.message : String(error))}`,
      'invalid',
    );
  }

  const statements = result.stmts ?? [];
  if (statements.length === 0) {
    return refuse(
      'The query contains no statement (only comments or semicolons); send exactly one SELECT statement.',
      'invalid',
    );
  }
  if (statements.length > 1) {
    return refuse(
      `Only one statement is allowed, found ${statements.length}; send statements one call at a time, and only reads.`,
    );
  }

  const statement = statements[0]?.stmt;
  const kind = statement ? Object.keys(statement)[0] : undefined;
  if (kind !== 'SelectStmt') {
    const label = kind ?? 'unknown';
    const dml = DATA_MODIFYING_NODES.get(label);
    if (dml) return refuse(`${dml} is a data-modifying statement and is not allowed; ${READ_ONLY}`);
    return refuse(STATEMENT_HINTS[label] ?? `Statement type ${label} is not allowed; ${READ_ONLY}`);
  }

  const violation = findViolation(statement);
  return violation === undefined ? { ok: true } : refuse(violation);
}

/**
 * Visits every object and array in the tree instead of following known paths, so a construct is caught wherever
 * the grammar lets it appear (CTEs, subqueries, lateral joins, set-operation arms, function arguments…).
 * Iterative, because deeply nested expressions could otherwise overflow the JS stack.
 */
function findViolation(root: unknown): string | undefined {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const node = pending.pop();
    if (Array.isArray(node)) {
      for (const item of node) pending.push(item);
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    for (const [key, value] of Object.entries(node)) {
      const violation = checkField(key, value);
      if (violation !== undefined) return violation;
      pending.push(value);
    }
  }
  return undefined;
}

// Keys are matched as object keys, not only as node wrappers, because libpg-query emits typed fields such as
// `intoClause`, `lockingClause` and the `larg`/`rarg` arms of a UNION without a `{ SelectStmt: … }` wrapper.
function checkField(key: string, value: unknown): string | undefined {
  const dml = DATA_MODIFYING_NODES.get(key);
  if (dml) return `Data-modifying statements (${dml}) are not allowed in a CTE; this tool is read-only.`;
  if (key === 'lockingClause' && Array.isArray(value) && value.length > 0) {
    return LOCKING_REFUSAL;
  }
  if (key === 'intoClause' && value) {
    return 'SELECT ... INTO creates a table and is not allowed; remove the INTO clause to return the rows instead.';
  }
  if (key === 'FuncCall') {
    const name = functionName(value as FuncCall);
    if (name !== undefined && isDeniedFunction(name)) return `Function ${name} is not allowed in queries.`;
  }
  return undefined;
}

function functionName(call: FuncCall): string | undefined {
  const last = call.funcname?.at(-1);
  return last && 'String' in last ? last.String.sval?.toLowerCase() : undefined;
}

function isDeniedFunction(name: string): boolean {
  return DENIED_FUNCTIONS.has(name) || DENIED_FUNCTION_PREFIXES.some((prefix) => name.startsWith(prefix));
}

function clip(text: string): string {
  return text.length <= MAX_MESSAGE_LENGTH ? text : `${text.slice(0, MAX_MESSAGE_LENGTH)}…`;
}

function refuse(reason: string, kind: 'invalid' | 'not_read_only' = 'not_read_only'): GuardVerdict {
  return { ok: false, reason, kind };
}
