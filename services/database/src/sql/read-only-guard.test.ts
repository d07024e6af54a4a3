import { describe, expect, it } from 'vitest';
import { checkReadOnlyStatement, DENIED_FUNCTIONS } from './read-only-guard.js';

const accepted: ReadonlyArray<[label: string, sql: string]> = [
  ['simple select', 'SELECT 1'],
  ['select from table', 'SELECT id, name FROM users WHERE active = true ORDER BY name LIMIT 10'],
  ['join', 'SELECT u.id, o.total FROM users u JOIN orders o ON o.user_id = u.id LEFT JOIN x ON true'],
  ['read-only CTE', "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - '1 day'::interval) TABLE recent"],
  ['recursive CTE', 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n'],
  ['window function', 'SELECT id, row_number() OVER (PARTITION BY team ORDER BY score DESC) FROM players'],
  ['aggregates', 'SELECT team, count(*), avg(score) FROM players GROUP BY team HAVING count(*) > 1'],
  ['VALUES', 'VALUES (1)'],
  ['TABLE', 'TABLE t'],
  ['UNION', 'SELECT a FROM t UNION SELECT a FROM u'],
  ['INTERSECT and EXCEPT', '(SELECT a FROM t INTERSECT SELECT a FROM u) EXCEPT SELECT a FROM v'],
  ['scalar subquery', 'SELECT (SELECT max(id) FROM t) AS m'],
  ['EXISTS subquery', 'SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.t_id = t.id)'],
  ['lateral join', 'SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.t_id = t.id LIMIT 1) s'],
  ['pg_sleep', 'select pg_sleep(1)'],
  ['allowed schema-qualified function', 'SELECT pg_catalog.current_setting($$search_path$$)'],
  ['string literal that looks like SQL', "SELECT '; DROP TABLE x; --' AS s"],
  ['comments', '-- leading comment\nSELECT /* inline */ 1 -- trailing'],
  ['trailing semicolon', 'SELECT 1;'],
  ['column named like a denied function', 'SELECT nextval, set_config FROM settings_audit'],
];

const refused: ReadonlyArray<[label: string, sql: string, reasonFragment: string]> = [
  // Statement count.
  ['empty string', '', 'empty'],
  ['whitespace only', '   \n\t', 'no statement'],
  ['only semicolons', ';;', 'no statement'],
  ['only a comment', '-- nothing here', 'no statement'],
  ['multiple statements', 'SELECT 1; COMMIT; DROP TABLE t', 'Only one statement is allowed, found 3'],
  ['two selects', 'SELECT 1; SELECT 2', 'one call at a time'],
  ['syntax error', 'SELECT * FORM users', 'SQL syntax error at position 9: syntax error at or near "FORM"'],
  // Statement kinds other than SELECT.
  ['COMMIT', 'COMMIT', 'Transaction control'],
  ['BEGIN', 'BEGIN', 'Transaction control'],
  ['ROLLBACK', 'ROLLBACK', 'Transaction control'],
  ['SET ROLE', 'SET ROLE postgres', 'SET and RESET are not allowed'],
  ['RESET ALL', 'RESET ALL', 'SET and RESET are not allowed'],
  ['SHOW', 'SHOW search_path', 'current_setting'],
  ['COPY TO PROGRAM', "COPY t TO PROGRAM 'id'", 'COPY is not allowed'],
  ['COPY query TO STDOUT', 'COPY (SELECT 1) TO STDOUT', 'COPY is not allowed'],
  ['DO', 'DO $$ BEGIN END $$', 'DoStmt is not allowed'],
  ['CALL', 'CALL p()', 'CallStmt is not allowed'],
  ['EXPLAIN', 'EXPLAIN SELECT 1', 'use the explain tool'],
  ['INSERT', 'INSERT INTO t VALUES (1)', 'INSERT is a data-modifying statement'],
  ['UPDATE', 'UPDATE t SET a = 1', 'UPDATE is a data-modifying statement'],
  ['DELETE', 'DELETE FROM t', 'DELETE is a data-modifying statement'],
  ['MERGE', 'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'MERGE is a data-modifying statement'],
  ['DROP TABLE', 'DROP TABLE t', 'DropStmt is not allowed'],
  ['CREATE TABLE', 'CREATE TABLE x (a int)', 'CreateStmt is not allowed'],
  ['CREATE TABLE AS', 'CREATE TABLE x AS SELECT 1', 'CreateTableAsStmt is not allowed'],
  ['LOCK TABLE', 'LOCK TABLE t', 'LockStmt is not allowed'],
  ['VACUUM', 'VACUUM', 'VacuumStmt is not allowed'],
  ['PREPARE', 'PREPARE p AS SELECT 1', 'PrepareStmt is not allowed'],
  ['EXECUTE', 'EXECUTE p', 'ExecuteStmt is not allowed'],
  ['DECLARE CURSOR', 'DECLARE c CURSOR FOR SELECT 1', 'DeclareCursorStmt is not allowed'],
  ['LISTEN', 'LISTEN c', 'ListenStmt is not allowed'],
  ['NOTIFY', 'NOTIFY c', 'NotifyStmt is not allowed'],
  // Data-modifying CTEs.
  ['DELETE in CTE', 'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', '(DELETE) are not allowed in a CTE'],
  ['INSERT in CTE', 'WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1', '(INSERT) are not allowed in a CTE'],
  ['UPDATE in CTE', 'WITH u AS (UPDATE t SET a=1 RETURNING *) SELECT 1', '(UPDATE) are not allowed in a CTE'],
  [
    'DML in nested CTE',
    'SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) s',
    '(DELETE) are not allowed in a CTE',
  ],
  // Row locks and SELECT INTO.
  ['FOR UPDATE', 'SELECT * FROM t FOR UPDATE', 'Row-locking clauses'],
  ['FOR SHARE', 'SELECT * FROM t FOR SHARE', 'Row-locking clauses'],
  ['FOR NO KEY UPDATE with SKIP LOCKED', 'SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED', 'Row-locking clauses'],
  ['FOR UPDATE in subquery', 'SELECT * FROM (SELECT * FROM t FOR UPDATE) s', 'Row-locking clauses'],
  ['FOR KEY SHARE in scalar subquery', 'SELECT (SELECT 1 FROM t FOR KEY SHARE)', 'Row-locking clauses'],
  ['FOR UPDATE in UNION arm', 'SELECT 1 UNION (SELECT a FROM t FOR UPDATE)', 'Row-locking clauses'],
  ['SELECT INTO', 'SELECT * INTO newt FROM t', 'SELECT ... INTO'],
  // Denied functions, wherever they appear.
  ['set_config', "SELECT set_config('flotilla.tenant','x',false)", 'Function set_config is not allowed'],
  ['qualified set_config', "SELECT pg_catalog.set_config('a','b',true)", 'Function set_config is not allowed'],
  ['set_config in FROM', "SELECT * FROM set_config('a','b',false)", 'Function set_config is not allowed'],
  ['upper-case set_config', "SELECT SET_CONFIG('a','b',false)", 'Function set_config is not allowed'],
  ['pg_read_file', "SELECT pg_read_file('/etc/passwd')", 'Function pg_read_file is not allowed'],
  ['lo_import', "SELECT lo_import('/etc/passwd')", 'Function lo_import is not allowed'],
  ['dblink_exec', "SELECT dblink_exec('x','y')", 'Function dblink_exec is not allowed'],
  ['pg_advisory_lock', 'SELECT pg_advisory_lock(1)', 'Function pg_advisory_lock is not allowed'],
  ['pg_try_advisory_xact_lock', 'SELECT pg_try_advisory_xact_lock(1)', 'Function pg_try_advisory_xact_lock'],
  ['pg_terminate_backend', 'SELECT pg_terminate_backend(1)', 'Function pg_terminate_backend is not allowed'],
  ['query_to_xml', "SELECT query_to_xml('delete from t', true, true, '')", 'Function query_to_xml is not allowed'],
  ['nextval', "SELECT nextval('s')", 'Function nextval is not allowed'],
  ['pg_notify', "SELECT pg_notify('c', 'x')", 'Function pg_notify is not allowed'],
  ['denied function in WHERE', 'SELECT * FROM t WHERE id = nextval($$s$$)', 'Function nextval is not allowed'],
  [
    'denied function in CTE',
    "WITH c AS (SELECT pg_read_file('/etc/passwd') AS f) SELECT * FROM c",
    'Function pg_read_file is not allowed',
  ],
  [
    'denied function in lateral join',
    'SELECT * FROM t, LATERAL (SELECT pg_terminate_backend(t.pid)) s',
    'Function pg_terminate_backend is not allowed',
  ],
  ['denied function as an argument', "SELECT coalesce(NULL, set_config('a','b',false))", 'Function set_config'],
  ['denied function in UNION arm', 'SELECT 1 UNION SELECT lo_unlink(1)', 'Function lo_unlink is not allowed'],
  ['denied function in VALUES', "VALUES (setval('s', 1))", 'Function setval is not allowed'],
];

describe('checkReadOnlyStatement', () => {
  it.each(accepted)('accepts %s', async (_label, sql) => {
    expect(await checkReadOnlyStatement(sql)).toEqual({ ok: true });
  });

  it.each(refused)('refuses %s', async (_label, sql, reasonFragment) => {
    const verdict = await checkReadOnlyStatement(sql);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toContain(reasonFragment);
  });

  it('does not echo a huge unterminated literal back in the reason', async () => {
    const verdict = await checkReadOnlyStatement(`SELECT '${'x'.repeat(100_000)}`);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.reason).toContain('SQL syntax error at position 7: unterminated quoted string');
      expect(verdict.reason.length).toBeLessThan(300);
    }
  });

  it('survives a very deeply nested expression without overflowing the stack', async () => {
    const depth = 500;
    const verdict = await checkReadOnlyStatement(`SELECT ${'('.repeat(depth)}nextval('s')${')'.repeat(depth)}`);
    expect(verdict).toEqual({
      ok: false,
      kind: 'not_read_only',
      reason: 'Function nextval is not allowed in queries.',
    });
  });
});

describe('DENIED_FUNCTIONS', () => {
  it('keeps names lowercase so the case-insensitive comparison can find them', () => {
    for (const name of DENIED_FUNCTIONS) expect(name).toBe(name.toLowerCase());
  });

  it('does not deny pg_sleep, which the statement timeout layer handles', () => {
    expect(DENIED_FUNCTIONS.has('pg_sleep')).toBe(false);
  });
});
