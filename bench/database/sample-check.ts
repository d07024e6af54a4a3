import type { RunningSystem } from './systems/system.ts';

/**
 * Asks for a few customers one at a time and checks the answers, before any load: a benchmark of a
 * server that answers quickly with an error would measure nothing. Returns the size of an answer.
 */
export async function checkAnswers(
  system: RunningSystem,
  customerIds: readonly number[],
  rows: number,
): Promise<number> {
  let bytes = 0;
  for (const customerId of customerIds) {
    const response = await fetch(system.url, {
      method: 'POST',
      headers: system.headers,
      body: system.requestBody(customerId),
    });
    const body = await response.text();
    const fail = (why: string) =>
      new Error(`${system.name}: ${why} for customer ${customerId}: ${body.slice(0, 1000)}`);
    if (!response.ok) throw fail(`HTTP ${response.status}`);
    const answer = system.rowsOf(response.headers.get('content-type') ?? '', body);
    if (answer.length !== rows) throw fail(`${answer.length} rows instead of ${rows}`);
    if (!answer.every((row) => row.customer_id === customerId)) throw fail('rows of another customer');
    if (!system.isSuccess(body)) throw fail('the per-response check rejects a good answer');
    bytes = Buffer.byteLength(body);
  }
  return bytes;
}
