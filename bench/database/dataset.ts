import { fileURLToPath } from 'node:url';
import { type PostgresInstance, runSqlFile } from '@flotilla/testkit';
import pg from 'pg';

export const CUSTOMERS = 10_000;
export const ORDERS_PER_CUSTOMER = 10;

/** The one query every system serves: ten rows of one customer, found through the index. */
export const STATEMENT =
  'SELECT id, customer_id, status, total_cents, created_at FROM bench_orders WHERE customer_id = $1 ORDER BY id LIMIT 10';

export const RUNTIME_ROLE = 'flotilla_bench';
const RUNTIME_PASSWORD = 'flotilla-bench-password';
const RUNTIME_ROLE_SQL = fileURLToPath(new URL('../../services/database/sql/runtime-role.sql', import.meta.url));

export interface Dataset {
  /** URL of the least-privilege role all three systems connect as. */
  readonly runtimeUrl: string;
  readonly runtimeUser: string;
  readonly runtimePassword: string;
  /** `EXPLAIN` of STATEMENT, to show in the report that the index serves it. */
  readonly plan: string[];
  readonly postgresVersion: string;
}

/**
 * Orders are interleaved (customer = row mod CUSTOMERS), so one customer's ten rows sit on ten
 * different heap pages, as they would in a table filled over time, and only the index finds them fast.
 */
const SEED_SQL = `
CREATE TABLE bench_orders (
  id integer PRIMARY KEY,
  customer_id integer NOT NULL,
  status text NOT NULL,
  total_cents integer NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO bench_orders
SELECT g,
       (g - 1) % ${CUSTOMERS} + 1,
       (ARRAY['pending', 'paid', 'shipped', 'delivered'])[g % 4 + 1],
       (g * 7919) % 100000,
       timestamptz '2025-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, ${CUSTOMERS * ORDERS_PER_CUSTOMER}) AS g;
CREATE INDEX bench_orders_customer_id_idx ON bench_orders (customer_id, id);
`;

/** Seeds bench_orders and creates the runtime role with the very script operators run. */
export async function prepareDataset(postgres: PostgresInstance, connectionLimit: number): Promise<Dataset> {
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  try {
    await admin.query(SEED_SQL);
    // Its own statement: VACUUM refuses to run inside the implicit transaction of a multi-statement query.
    await admin.query('VACUUM ANALYZE bench_orders');
    await runSqlFile(postgres.url, RUNTIME_ROLE_SQL, {
      role: RUNTIME_ROLE,
      password: RUNTIME_PASSWORD,
      database: postgres.database,
      schema: 'public',
      connection_limit: String(connectionLimit),
      writable_tables: '',
    });
    const explain = await admin.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${STATEMENT}`, [1]);
    const version = await admin.query<{ server_version: string }>('SHOW server_version');
    return {
      runtimeUrl: postgres.urlFor(RUNTIME_ROLE, RUNTIME_PASSWORD),
      runtimeUser: RUNTIME_ROLE,
      runtimePassword: RUNTIME_PASSWORD,
      plan: explain.rows.map((row) => row['QUERY PLAN']),
      postgresVersion: version.rows[0]?.server_version ?? 'unknown',
    };
  } finally {
    await admin.end();
  }
}

/** Customer ids spread over the whole table, so requests do not all hit the same index pages. */
export function customerIds(count: number): number[] {
  const stride = Math.floor(CUSTOMERS / count) || 1;
  return Array.from({ length: count }, (_, index) => ((index * stride + 7) % CUSTOMERS) + 1);
}
