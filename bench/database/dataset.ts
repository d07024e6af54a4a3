import { fileURLToPath } from 'node:url';
import { type PostgresInstance, runSqlFile } from '@flotilla/testkit';
import pg from 'pg';

export const CUSTOMERS = 10_000;
export const ORDERS_PER_CUSTOMER = 10;

const COLUMNS = 'SELECT id, customer_id, status, total_cents, created_at FROM bench_orders';

/** The one query every system serves in `run.ts`: ten rows of one customer, found through the index. */
export const STATEMENT = `${COLUMNS} WHERE customer_id = $1 ORDER BY id LIMIT 10`;

/**
 * One parameterised statement the systems serve, answering exactly `rows` rows: the orders of
 * `customers` consecutive customers from the one in $1, found through the (customer_id, id) index.
 */
export interface OrdersQuery {
  readonly rows: number;
  readonly customers: number;
  readonly statement: string;
  /** Toolbox's tool name and the floor's prepared statement name for it. */
  readonly name: string;
  readonly description: string;
}

/** The largest answer the systems are asked for: Flotilla's 1 MiB result cap holds about 9,000 of these rows. */
export const MAX_QUERY_ROWS = 5000;

/**
 * The statement answering `rows` rows (a multiple of ORDERS_PER_CUSTOMER). Ten rows is STATEMENT
 * itself, so the result-size curve starts at run.ts's query; more is a range of customers, whose rows
 * the index finds and a top-N sort puts in id order.
 */
export function ordersQuery(rows: number): OrdersQuery {
  if (
    !Number.isInteger(rows) ||
    rows < ORDERS_PER_CUSTOMER ||
    rows % ORDERS_PER_CUSTOMER !== 0 ||
    rows > MAX_QUERY_ROWS
  ) {
    throw new Error(`a result size must be a multiple of ${ORDERS_PER_CUSTOMER} up to ${MAX_QUERY_ROWS}, got ${rows}`);
  }
  const customers = rows / ORDERS_PER_CUSTOMER;
  if (customers === 1) {
    return {
      rows,
      customers,
      statement: STATEMENT,
      name: 'orders_by_customer',
      description: 'The first ten orders of one customer.',
    };
  }
  return {
    rows,
    customers,
    statement: `${COLUMNS} WHERE customer_id BETWEEN $1 AND $1 + ${customers - 1} ORDER BY id LIMIT ${rows}`,
    name: `orders_of_${customers}_customers`,
    description: `The orders of ${customers} consecutive customers from the one given, ${rows} rows.`,
  };
}

export const RUNTIME_ROLE = 'flotilla_bench';
const RUNTIME_PASSWORD = 'flotilla-bench-password';
const RUNTIME_ROLE_SQL = fileURLToPath(new URL('../../services/database/sql/runtime-role.sql', import.meta.url));

export interface Dataset {
  /** URL of the least-privilege role all three systems connect as. */
  readonly runtimeUrl: string;
  readonly runtimeUser: string;
  readonly runtimePassword: string;
  /** `EXPLAIN` of each query asked for, in the same order, to show in the report that the index serves it. */
  readonly plans: readonly (readonly string[])[];
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
export async function prepareDataset(
  postgres: PostgresInstance,
  connectionLimit: number,
  queries: readonly OrdersQuery[],
): Promise<Dataset> {
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
    const plans: string[][] = [];
    for (const query of queries) {
      const explain = await admin.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${query.statement}`, [1]);
      plans.push(explain.rows.map((row) => row['QUERY PLAN']));
    }
    const version = await admin.query<{ server_version: string }>('SHOW server_version');
    return {
      runtimeUrl: postgres.urlFor(RUNTIME_ROLE, RUNTIME_PASSWORD),
      runtimeUser: RUNTIME_ROLE,
      runtimePassword: RUNTIME_PASSWORD,
      plans,
      postgresVersion: version.rows[0]?.server_version ?? 'unknown',
    };
  } finally {
    await admin.end();
  }
}

/**
 * Customer ids spread over the whole table, so requests do not all hit the same index pages; each
 * leaves room for the `customers` consecutive customers a query's answer covers.
 */
export function customerIds(count: number, customers = 1): number[] {
  const first = CUSTOMERS - customers + 1;
  const stride = Math.floor(first / count) || 1;
  return Array.from({ length: count }, (_, index) => ((index * stride + 7) % first) + 1);
}
