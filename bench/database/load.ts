import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import autocannon, { type Result as AutocannonResult } from 'autocannon';

/** One HTTP request as a system wants it: its headers and JSON body. */
export interface LoadRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface LoadTarget {
  readonly url: string;
  /** Sent in turn by every connection, so the parameter varies from request to request. */
  readonly requests: readonly LoadRequest[];
  readonly isSuccess: (body: string) => boolean;
}

export interface LoadFigures {
  readonly seconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: { readonly mean: number; readonly p50: number; readonly p99: number; readonly max: number };
  /** Responses with a status outside 2xx. */
  readonly non2xx: number;
  /** 2xx responses that are not a successful tool result (a JSON-RPC error or isError). */
  readonly failedResults: number;
  /** Connection errors and timeouts. */
  readonly socketErrors: number;
  /** Responses per HTTP status. */
  readonly statusCodes: Readonly<Record<string, number>>;
}

/**
 * Keeps `connections` requests in flight for `seconds`, each connection sending its next request as
 * soon as the previous answer arrives (closed loop), and returns what happened.
 *
 * Latency is recorded here, in microseconds, rather than taken from autocannon, whose histogram
 * has whole-millisecond resolution: too coarse for answers that take two or three milliseconds.
 */
export async function applyLoad(target: LoadTarget, connections: number, seconds: number): Promise<LoadFigures> {
  const latencies = createHistogram();
  let failedResults = 0;
  const onResponse = (status: number, body: string) => {
    if (status >= 200 && status < 300 && !target.isSuccess(body)) failedResults += 1;
  };
  const instance = autocannon({
    url: target.url,
    method: 'POST',
    // Serialized once up front: autocannon rebuilds a request per send only if it has a setupRequest hook.
    requests: target.requests.map(({ headers, body }) => ({
      method: 'POST',
      headers: { ...headers },
      body,
      onResponse,
    })),
    connections,
    duration: seconds,
    timeout: 10,
  });
  instance.on('response', (_client, statusCode, _bytes, ms) => {
    if (statusCode >= 200 && statusCode < 300) latencies.record(Math.max(1, Math.round(ms * 1000)));
  });
  return loadFigures(await instance, latencies, failedResults);
}

/** What one autocannon run measured, with latency from `latencies` (microseconds, 2xx answers only). */
export function loadFigures(
  result: AutocannonResult,
  latencies: RecordableHistogram,
  failedResults: number,
): LoadFigures {
  const ms = (micros: number) => Math.round(micros) / 1000;
  return {
    seconds: result.duration,
    requests: result.requests.total,
    requestsPerSecond: Math.round(result.requests.total / result.duration),
    latencyMs: {
      mean: ms(latencies.mean),
      p50: ms(latencies.percentile(50)),
      p99: ms(latencies.percentile(99)),
      max: ms(latencies.max),
    },
    non2xx: result.non2xx,
    failedResults,
    // autocannon counts timeouts among its errors.
    socketErrors: result.errors,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])),
  };
}

/** Requests that went wrong in some way: while there are any, the figures describe the failure, not the server. */
export function failedRequests(load: LoadFigures): number {
  return load.non2xx + load.failedResults + load.socketErrors;
}
