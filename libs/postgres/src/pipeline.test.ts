import { type PostgresInstance, startPostgres } from '@flotilla/testkit';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runPipeline } from './pipeline.js';

let postgres: PostgresInstance;
let client: pg.Client;
/** ReadyForQuery messages the client has received: one per round trip. */
let roundTrips = 0;

beforeAll(async () => {
  postgres = await startPostgres();
  client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  (client as unknown as { connection: NodeJS.EventEmitter }).connection.on('readyForQuery', () => {
    roundTrips += 1;
  });
});

afterAll(async () => {
  await client?.end();
  await postgres?.destroy();
});

beforeEach(async () => {
  await client.query(
    'DROP TABLE IF EXISTS item; CREATE TABLE item (id int PRIMARY KEY, tags text[], at timestamptz, note text)',
  );
  roundTrips = 0;
});

const INSERT = 'INSERT INTO item (id, tags, at, note) VALUES ($1, $2, $3, $4) RETURNING id, tags, at';
const countItems = async () => (await client.query('SELECT count(*)::int AS n FROM item')).rows[0].n as number;
const preparedByPipelines = async () =>
  (await client.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'flotilla_pipeline_%'"))
    .rows[0].n as number;

describe('runPipeline', () => {
  it('runs several statements in one round trip and one implicit transaction', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const [first, second, count] = await runPipeline(client, [
      { sql: INSERT, values: [1, ['a', 'b,c'], at, null], returnsRows: true },
      { sql: INSERT, values: [2, [], null, 'two'] },
      { sql: 'SELECT count(*)::int AS n FROM item', returnsRows: true },
    ]);
    expect(roundTrips).toBe(1);
    // pg's own value conversion and type parsers: the array and the date come back as they went in.
    expect(first?.rows).toEqual([{ id: 1, tags: ['a', 'b,c'], at }]);
    expect(first?.rowCount).toBe(1);
    // A step that returns no rows is not described, but its command tag still counts.
    expect(second).toMatchObject({ rows: [], rowCount: 1, more: false });
    expect(count?.rows).toEqual([{ n: 2 }]);
    expect(await countItems()).toBe(2);
  });

  it('rolls every step back when one fails, and rejects with Postgres’s own error', async () => {
    const failure = await runPipeline(client, [
      { sql: INSERT, values: [1, [], null, null] },
      { sql: INSERT, values: [1, [], null, 'the same id'] },
      { sql: INSERT, values: [3, [], null, null] },
    ]).then(
      () => undefined,
      (error: unknown) => error as pg.DatabaseError,
    );
    expect(failure?.code).toBe('23505');
    expect(failure?.constraint).toBe('item_pkey');
    expect(await countItems()).toBe(0);
    // The connection is usable at once, and the statements it prepared still work.
    await runPipeline(client, [{ sql: INSERT, values: [1, [], null, null] }]);
    expect(await countItems()).toBe(1);
  });

  it('prepares each statement once per connection', async () => {
    await runPipeline(client, [{ sql: INSERT, values: [1, [], null, null] }]);
    const prepared = await preparedByPipelines();
    for (let id = 2; id <= 20; id++) await runPipeline(client, [{ sql: INSERT, values: [id, [], null, null] }]);
    expect(await preparedByPipelines()).toBe(prepared);
    expect(await countItems()).toBe(20);
  });

  it('re-prepares a statement whose plan failed, instead of failing on it forever', async () => {
    const select = 'SELECT * FROM item WHERE id = $1';
    await runPipeline(client, [{ sql: INSERT, values: [1, [], null, 'x'] }]);
    expect((await runPipeline(client, [{ sql: select, values: [1], returnsRows: true }]))[0]?.rows).toHaveLength(1);
    // The prepared plan's result type changes under it: Postgres refuses the cached plan once.
    await client.query('ALTER TABLE item ADD COLUMN extra int DEFAULT 7');
    const stale = await runPipeline(client, [{ sql: select, values: [1], returnsRows: true }]).then(
      () => undefined,
      (error: unknown) => error as pg.DatabaseError,
    );
    expect(stale?.code).toBe('0A000');
    const [fresh] = await runPipeline(client, [{ sql: select, values: [1], returnsRows: true }]);
    expect(fresh?.rows).toEqual([{ id: 1, tags: [], at: null, note: 'x', extra: 7 }]);
  });

  it('stops a step at its limit and says there was more', async () => {
    for (let id = 1; id <= 5; id++) await client.query('INSERT INTO item (id) VALUES ($1)', [id]);
    const [limited, all] = await runPipeline(
      client,
      [
        { sql: 'SELECT id FROM item ORDER BY id', returnsRows: true, limit: 3 },
        { sql: 'SELECT id FROM item WHERE id > $1 ORDER BY id', values: [3], returnsRows: true, limit: 3 },
      ],
      { rowMode: 'array' },
    );
    expect(limited).toMatchObject({ rows: [[1], [2], [3]], more: true, rowCount: null });
    expect(all).toMatchObject({ rows: [[4], [5]], more: false, rowCount: 2 });
  });
});
