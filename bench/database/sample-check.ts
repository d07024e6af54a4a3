import type { OrdersQuery } from './dataset.ts';
import type { RunningSystem } from './systems/system.ts';

/**
 * Asks for a few answers of `query` one at a time and checks them, before any load: a benchmark of
 * a server that answers quickly with an error, or with fewer rows than asked, would measure nothing.
 * An answer must hold exactly `query.rows` rows, all of the customers asked for, in id order.
 * Returns the size of an answer.
 */
export async function checkAnswers(
  system: RunningSystem,
  query: OrdersQuery,
  customerIds: readonly number[],
): Promise<number> {
  let bytes = 0;
  for (const customerId of customerIds) {
    const { headers, body: requestBody } = system.request(query, customerId);
    const response = await fetch(system.url, { method: 'POST', headers, body: requestBody });
    const body = await response.text();
    const fail = (why: string) =>
      new Error(`${system.name}: ${why} for ${query.name}(${customerId}): ${body.slice(0, 1000)}`);
    if (!response.ok) throw fail(`HTTP ${response.status}`);
    const answer = system.rowsOf(response.headers.get('content-type') ?? '', body);
    if (answer.length !== query.rows) throw fail(`${answer.length} rows instead of ${query.rows}`);
    const lastCustomer = customerId + query.customers - 1;
    const asked = (row: Record<string, unknown>) =>
      typeof row.customer_id === 'number' && row.customer_id >= customerId && row.customer_id <= lastCustomer;
    if (!answer.every(asked)) throw fail('rows of another customer');
    if (!answer.every((row, index) => index === 0 || Number(row.id) > Number(answer[index - 1]?.id))) {
      throw fail('rows out of id order');
    }
    if (!system.isSuccess(body)) throw fail('the per-response check rejects a good answer');
    bytes = Buffer.byteLength(body);
  }
  return bytes;
}
