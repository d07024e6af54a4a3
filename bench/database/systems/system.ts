import type { OrdersQuery } from '../dataset.ts';
import type { LoadRequest } from '../load.ts';
import type { SystemName } from '../settings.ts';

export type Row = Record<string, unknown>;

/** One server under load, started and ready; everything the load generator and the checks need. */
export interface RunningSystem {
  readonly name: SystemName;
  /** One line for the report: what serves the query and with which protections on. */
  readonly description: string;
  readonly url: string;
  /** Processes whose CPU time counts as this system's (not Postgres, not the load generator). */
  readonly pids: readonly number[];
  /** The request asking for `query`'s answer from `customerId` on; `query` is one of the context's. */
  request(query: OrdersQuery, customerId: number): LoadRequest;
  /** The rows of a response; throws unless it is a successful answer. */
  rowsOf(contentType: string, body: string): Row[];
  /** A cheap check applied to every response under load. */
  isSuccess(body: string): boolean;
  stop(): Promise<void>;
}

/** What every system is given: the same database, role, statements and pool size. */
export interface SystemContext {
  readonly postgres: { readonly host: string; readonly port: number; readonly database: string };
  readonly runtimeUrl: string;
  readonly runtimeUser: string;
  readonly runtimePassword: string;
  /** Every statement the system will be asked to run. */
  readonly queries: readonly OrdersQuery[];
  readonly poolSize: number;
  /** The most connections the load generator will open at once. */
  readonly connections: number;
  /** The MCP revision the two MCP servers are spoken to in. */
  readonly protocol: string;
}
