/** What every benchmark notification is: the same channel and text; only the idempotency key differs. */

/** The one webhook channel of the server's channels file, pointing at the benchmark's receiver. */
export const CHANNEL = 'bench-webhook';
export const MESSAGE = 'Deploy 4711 finished: all checks green.';
/** The tenant and subject of the benchmark's API key (and of the floor's rows). */
export const TENANT = 'bench';
