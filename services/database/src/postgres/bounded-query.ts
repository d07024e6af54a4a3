import pg from 'pg';

export interface BoundedRows {
  fields: pg.FieldDef[];
  rows: unknown[][];
  /** Postgres had more rows than the limit: the portal was suspended, not completed. */
  more: boolean;
}

/**
 * A read that asks Postgres for at most `limit` rows, in one round trip: Parse, Bind, Describe,
 * Execute with a row limit and Sync are written together. pg's Query asks for every row; pg-cursor
 * pages with a separate write per message and a round trip per page and per close, which cost most
 * of a small query's time. Postgres never sends a row past the limit. Named statements are not
 * used: agent SQL varies without bound, and each name would stay prepared on its connection.
 */
export function readBounded(
  client: pg.PoolClient,
  sql: string,
  params: readonly unknown[],
  limit: number,
): Promise<BoundedRows> {
  return new Promise((resolve, reject) => {
    const query = new BoundedQuery(sql, params, limit, (error, result) => {
      if (error) reject(error);
      else resolve({ fields: result.fields, rows: result.rows as unknown[][], more: query.suspended });
    });
    client.query(query);
  });
}

/** pg's own Query, with the one step it takes differently overridden: how rows are requested. */
class BoundedQuery extends pg.Query {
  suspended = false;

  constructor(
    text: string,
    values: readonly unknown[],
    private readonly limit: number,
    callback: (error: Error | null, result: pg.QueryResult) => void,
  ) {
    // `extended` even without parameters: the simple protocol would take several statements and ignore the limit.
    super({ text, values: values as unknown[], rowMode: 'array', queryMode: 'extended', callback } as pg.QueryConfig);
  }

  /** Replaces pg's Execute-everything-then-Sync with Execute-at-most-`limit`-then-Sync (see pg/lib/query.js). */
  _getRows(connection: { execute(options: { portal: string; rows: number }): void; sync(): void }): void {
    connection.execute({ portal: (this as unknown as { portal: string }).portal, rows: this.limit });
    connection.sync();
  }

  /** The Sync is already on its way, so the suspended portal simply ends with the transaction. */
  handlePortalSuspended(): void {
    this.suspended = true;
  }
}
