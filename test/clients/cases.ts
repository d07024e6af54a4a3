import { randomUUID } from 'node:crypto';
import { type ErrorCode, errorOf, type ToolErrorShape, type ToolOutcome } from '@flotilla/testkit';
import { expect } from 'vitest';
import { type Fleet, GREP_TOO_SLOW, type ServerName } from './fleet.js';

// What the suites call on each server: the client matrix's five steps, and every tool's succeeding and failing
// calls for the error-shape walk. Expected codes are pinned, so a changed mapping shows up here.

export interface FailingCall {
  tool: string;
  args: Record<string, unknown>;
  code: ErrorCode;
  /** Sets up what makes the call fail (a lock held behind the server's back); returns what undoes it. */
  around?: (fleet: Fleet) => Promise<() => Promise<void>>;
}

export interface MatrixCases {
  success: { tool: string; args: Record<string, unknown>; check(structured: Record<string, unknown>): void };
  invalid: FailingCall;
  refusal: FailingCall;
  timeout: FailingCall;
}

/** Holds an exclusive lock on the notifications table, so every read of it waits past the tool timeout. */
async function lockNotifications(fleet: Fleet): Promise<() => Promise<void>> {
  const admin = await fleet.admin('notifications');
  await admin.query('BEGIN');
  await admin.query('LOCK TABLE notifications.notification IN ACCESS EXCLUSIVE MODE');
  return async () => {
    await admin.query('ROLLBACK');
    await admin.end();
  };
}

export const MATRIX: Record<ServerName, MatrixCases> = {
  database: {
    success: {
      tool: 'query',
      args: { sql: 'SELECT $1::int + 1 AS answer', params: [41] },
      check: (structured) => expect(structured).toMatchObject({ rows: [{ answer: 42 }], rowCount: 1 }),
    },
    invalid: { tool: 'query', args: { sql: 'SELECT 1', limit: 5 }, code: 'INVALID_ARGUMENT' },
    refusal: { tool: 'query', args: { sql: 'COMMIT; DELETE FROM orders' }, code: 'FORBIDDEN' },
    timeout: { tool: 'query', args: { sql: 'SELECT pg_sleep(30)' }, code: 'TIMEOUT' },
  },
  files: {
    success: {
      tool: 'read_file',
      args: { path: 'README.md' },
      check: (structured) =>
        expect(structured).toMatchObject({
          path: 'README.md',
          encoding: 'utf8',
          content: expect.stringContaining('Read me.'),
        }),
    },
    invalid: { tool: 'read_file', args: { path: 'README.md', offset: -1 }, code: 'INVALID_ARGUMENT' },
    refusal: { tool: 'read_file', args: { path: '.git/config' }, code: 'FORBIDDEN' },
    timeout: { tool: 'grep', args: { path: 'big', pattern: GREP_TOO_SLOW }, code: 'TIMEOUT' },
  },
  notifications: {
    success: {
      tool: 'list_channels',
      args: {},
      check: (structured) =>
        expect((structured.channels as { name: string }[]).map((channel) => channel.name)).toEqual([
          'ops-webhook',
          'team-email',
        ]),
    },
    invalid: { tool: 'send_notification', args: { channel: 'ops-webhook', body: 'no key' }, code: 'INVALID_ARGUMENT' },
    refusal: {
      tool: 'send_notification',
      args: { channel: 'team-email', to: ['mallory@evil.test'], body: 'hi', idempotencyKey: 'refused-1' },
      code: 'FORBIDDEN',
    },
    timeout: { tool: 'list_notifications', args: {}, code: 'TIMEOUT', around: lockNotifications },
  },
};

/** Runs a failing call, with its setup around it. */
export async function callFailing(
  fleet: Fleet,
  call: FailingCall,
  invoke: (tool: string, args: Record<string, unknown>) => Promise<ToolOutcome>,
): Promise<ToolOutcome> {
  const undo = await call.around?.(fleet);
  try {
    return await invoke(call.tool, call.args);
  } finally {
    await undo?.();
  }
}

/**
 * SPEC §2 on the wire: isError, no structuredContent, the payload in `_meta` with a known code, and one text for the
 * model that carries the message, the code, the retry advice and the errorId.
 */
export function expectToolError(outcome: ToolOutcome, code: ErrorCode): ToolErrorShape {
  const error = errorOf(outcome);
  expect(error.code, error.message).toBe(code);
  expect(error.errorId).toMatch(/^[0-9a-f-]{36}$/);
  expect(typeof error.retryable).toBe('boolean');
  const text = (outcome.content ?? []).map((part) => (part.type === 'text' ? String(part.text) : '')).join('\n');
  expect(text).toContain(`${code}: ${error.message}`);
  expect(text).toContain(error.errorId);
  expect(text).toMatch(error.retryable ? /Retryable/ : /will not help/);
  if (error.retryAfterMs !== undefined) expect(text).toContain(`after ${error.retryAfterMs} ms`);
  expect(text).not.toMatch(/postgres:\/\/|redis:\/\/|whsec_|flt_|\n\s+at .+:\d+:\d+/);
  return error;
}

/** A call of the error-shape walk that succeeds; `args` may use the results of the tool's earlier calls. */
export interface SucceedingCall {
  tool: string;
  args: (earlier: Map<string, Record<string, unknown>>) => Record<string, unknown>;
}

export interface ToolWalk {
  /** In order: later calls may depend on earlier ones (write, then move, then delete). */
  succeeding: SucceedingCall[];
  /** Failures inside the tool, beyond the invalid arguments the walk derives from each inputSchema. */
  failing: FailingCall[];
}

/** The id of the order the walk's insert_rows created. */
const insertedId = (earlier: Map<string, Record<string, unknown>>) =>
  (earlier.get('insert_rows')?.rows as { id: string }[] | undefined)?.[0]?.id;
const ok = (tool: string, args: Record<string, unknown> = {}): SucceedingCall => ({ tool, args: () => args });
const missing = randomUUID();

export const WALK: Record<ServerName, ToolWalk> = {
  database: {
    succeeding: [
      ok('list_schemas'),
      ok('list_tables'),
      ok('describe_table', { table: 'orders' }),
      ok('query', { sql: 'SELECT id, status, placed_at FROM orders ORDER BY id', maxRows: 2 }),
      ok('explain', { sql: 'SELECT * FROM orders WHERE id = $1', params: [1] }),
      ok('insert_rows', { table: 'orders', rows: [{ customer_id: 1, status: 'placed' }], idempotencyKey: 'walk-1' }),
      {
        tool: 'update_rows',
        args: (earlier) => ({
          table: 'orders',
          set: { status: 'paid' },
          where: [{ column: 'id', value: insertedId(earlier) }],
          expectedCount: 1,
        }),
      },
      {
        tool: 'delete_rows',
        args: (earlier) => ({
          table: 'orders',
          where: [{ column: 'id', value: insertedId(earlier) }],
        }),
      },
    ],
    failing: [
      { tool: 'list_tables', args: { schema: 'pg_catalog' }, code: 'NOT_FOUND' },
      { tool: 'describe_table', args: { table: 'no_such_table' }, code: 'NOT_FOUND' },
      { tool: 'query', args: { sql: 'DELETE FROM orders' }, code: 'FORBIDDEN' },
      { tool: 'query', args: { sql: 'SELEC 1' }, code: 'INVALID_ARGUMENT' },
      { tool: 'query', args: { sql: 'SELECT 1/0' }, code: 'INVALID_ARGUMENT' },
      { tool: 'query', args: { sql: 'SELECT $1::int', params: [] }, code: 'INVALID_ARGUMENT' },
      { tool: 'query', args: { sql: 'SELECT pg_sleep(30)' }, code: 'TIMEOUT' },
      { tool: 'explain', args: { sql: 'DROP TABLE orders' }, code: 'FORBIDDEN' },
      { tool: 'insert_rows', args: { table: 'customers', rows: [{ email: 'x@example.com' }] }, code: 'FORBIDDEN' },
      { tool: 'insert_rows', args: { table: 'orders', rows: [{ no_such_column: 1 }] }, code: 'INVALID_ARGUMENT' },
      {
        tool: 'insert_rows',
        args: { table: 'orders', rows: [{ customer_id: 1, status: 'lost' }] },
        code: 'INVALID_ARGUMENT',
      },
      { tool: 'insert_rows', args: { table: 'orders', rows: [{ customer_id: 999_999 }] }, code: 'INVALID_ARGUMENT' },
      {
        tool: 'insert_rows',
        args: { table: 'order_items', rows: [{ order_id: 1, product_id: 8, quantity: 1 }] }, // in the demo data
        code: 'CONFLICT',
      },
      {
        tool: 'update_rows',
        args: { table: 'orders', set: { status: 'paid' }, where: [{ column: 'id', value: -1 }], expectedCount: 1 },
        code: 'PRECONDITION_FAILED',
      },
      {
        tool: 'update_rows',
        args: {
          table: 'orders',
          set: { status: 'paid' },
          where: [{ column: 'id', value: 1 }],
          idempotencyKey: 'walk-1',
        },
        code: 'CONFLICT',
      },
      {
        tool: 'delete_rows',
        args: { table: 'orders', where: [{ column: 'nope', value: 1 }] },
        code: 'INVALID_ARGUMENT',
      },
    ],
  },
  files: {
    succeeding: [
      ok('list_directory', { path: '' }),
      ok('stat', { path: 'README.md' }),
      ok('read_file', { path: 'notes/todo.md' }),
      ok('search_files', { path: '', glob: '**/*.md' }),
      ok('grep', { path: 'notes', pattern: 'matrix' }),
      ok('make_directory', { path: 'walk' }),
      ok('write_file', { path: 'walk/new.txt', content: 'first\n' }),
      ok('edit_file', { path: 'walk/new.txt', edits: [{ oldText: 'first', newText: 'second' }] }),
      ok('move', { from: 'walk/new.txt', to: 'walk/moved.txt' }),
      ok('delete', { path: 'walk', recursive: true }),
    ],
    failing: [
      { tool: 'list_directory', args: { path: 'missing' }, code: 'NOT_FOUND' },
      { tool: 'list_directory', args: { path: '../tenant-next-door' }, code: 'INVALID_ARGUMENT' },
      { tool: 'stat', args: { path: 'missing' }, code: 'NOT_FOUND' },
      { tool: 'read_file', args: { path: '.git/config' }, code: 'FORBIDDEN' },
      { tool: 'read_file', args: { path: 'notes' }, code: 'INVALID_ARGUMENT' },
      { tool: 'read_file', args: { path: '/etc/passwd' }, code: 'INVALID_ARGUMENT' },
      { tool: 'search_files', args: { path: 'missing', glob: '*' }, code: 'NOT_FOUND' },
      { tool: 'grep', args: { path: '', pattern: '(?<=x)a' }, code: 'INVALID_ARGUMENT' },
      { tool: 'grep', args: { path: 'big', pattern: GREP_TOO_SLOW }, code: 'TIMEOUT' },
      {
        tool: 'write_file',
        args: { path: 'README.md', content: 'x', ifMatch: '"stale"' },
        code: 'PRECONDITION_FAILED',
      },
      { tool: 'write_file', args: { path: 'README.md', content: 'x', createOnly: true }, code: 'CONFLICT' },
      {
        tool: 'edit_file',
        args: { path: 'README.md', edits: [{ oldText: 'not in the file', newText: 'y' }] },
        code: 'PRECONDITION_FAILED',
      },
      { tool: 'make_directory', args: { path: 'README.md' }, code: 'CONFLICT' },
      { tool: 'move', args: { from: 'missing', to: 'elsewhere' }, code: 'NOT_FOUND' },
      { tool: 'delete', args: { path: 'notes' }, code: 'PRECONDITION_FAILED' },
    ],
  },
  notifications: {
    succeeding: [
      ok('list_channels'),
      ok('send_notification', {
        channel: 'ops-webhook',
        body: 'Deploy 4711 is done.',
        idempotencyKey: 'walk-1',
        // Scheduled a day ahead, so it is still cancellable when cancel_notification runs.
        sendAt: new Date(Date.now() + 86_400_000).toISOString(),
      }),
      { tool: 'get_notification', args: (earlier) => ({ id: earlier.get('send_notification')?.id }) },
      ok('list_notifications', { limit: 5 }),
      { tool: 'cancel_notification', args: (earlier) => ({ id: earlier.get('send_notification')?.id }) },
    ],
    failing: [
      { tool: 'send_notification', args: { channel: 'nope', body: 'b', idempotencyKey: 'walk-2' }, code: 'NOT_FOUND' },
      {
        tool: 'send_notification',
        args: { channel: 'team-email', to: ['a@evil.test'], body: 'b', idempotencyKey: 'walk-3' },
        code: 'FORBIDDEN',
      },
      {
        tool: 'send_notification',
        args: { channel: 'ops-webhook', body: 'other content', idempotencyKey: 'walk-1' },
        code: 'CONFLICT',
      },
      { tool: 'get_notification', args: { id: missing }, code: 'NOT_FOUND' },
      { tool: 'list_notifications', args: { cursor: 'garbage' }, code: 'INVALID_ARGUMENT' },
      { tool: 'list_notifications', args: {}, code: 'TIMEOUT', around: lockNotifications },
      { tool: 'cancel_notification', args: { id: missing }, code: 'NOT_FOUND' },
    ],
  },
};

/**
 * Invalid arguments derived from a tool's own inputSchema: an unknown property, each required property left out,
 * and each property given a value of the wrong JSON type.
 */
export function invalidArgumentsFor(inputSchema: Record<string, unknown>): Record<string, unknown>[] {
  const properties = (inputSchema.properties ?? {}) as Record<string, { type?: string | string[] }>;
  const requiredNames = (inputSchema.required ?? []) as string[];
  const cases: Record<string, unknown>[] = [{ flotilla_unknown_property: true }];
  if (requiredNames.length > 0) cases.push({});
  for (const [name, schema] of Object.entries(properties)) {
    const types = [schema.type ?? []].flat();
    if (types.length === 0) continue;
    cases.push({ [name]: types.includes('string') ? { nested: [1] } : 'not-a-number-or-list' });
  }
  return cases;
}
