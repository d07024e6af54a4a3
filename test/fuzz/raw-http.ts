import { request as httpRequest } from 'node:http';

/** One HTTP exchange as the fuzzer builds it: any method, any headers (Host included), any bytes. */
export interface RawRequest {
  method: string;
  path: string;
  /** `undefined` removes a header the sender would otherwise add (Content-Type, Accept, Authorization…). */
  headers: Record<string, string | undefined>;
  body: string | Uint8Array;
}

export interface RawAnswer {
  /** 0 when no answer came: `error` says why (a hang is `timeout`). */
  status: number;
  headers: Record<string, string>;
  body: string;
  ms: number;
  error?: string;
}

/**
 * Sends a request on a fresh connection (a malformed request may make the server close it, which must not poison the
 * next case) and waits at most `timeoutMs` for the whole answer.
 */
export function send(port: number, raw: RawRequest, timeoutMs: number): Promise<RawAnswer> {
  const started = performance.now();
  const body = typeof raw.body === 'string' ? Buffer.from(raw.body, 'utf8') : Buffer.from(raw.body);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw.headers)) if (value !== undefined) headers[name] = value;
  if (!('content-length' in headers) && raw.method !== 'GET' && raw.method !== 'HEAD') {
    headers['content-length'] = String(body.length);
  }
  return new Promise((resolve) => {
    let settled = false;
    const finish = (answer: Omit<RawAnswer, 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...answer, ms: performance.now() - started });
    };
    const request = httpRequest({ host: '127.0.0.1', port, method: raw.method, path: raw.path, headers, agent: false });
    const timer = setTimeout(() => {
      request.destroy();
      finish({ status: 0, headers: {}, body: '', error: 'timeout' });
    }, timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) =>
      finish({ status: 0, headers: {}, body: '', error: error.code ?? error.message }),
    );
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error: NodeJS.ErrnoException) =>
        finish({ status: 0, headers: {}, body: '', error: error.code ?? error.message }),
      );
      response.on('end', () => {
        const flat: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        finish({ status: response.statusCode ?? 0, headers: flat, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.end(raw.method === 'GET' || raw.method === 'HEAD' ? undefined : body);
  });
}
