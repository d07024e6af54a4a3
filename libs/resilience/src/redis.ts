import { Redis } from 'ioredis';

export type { Redis } from 'ioredis';

/**
 * A Redis client for shared state that fails fast while Redis is away: commands error at once
 * instead of queueing (so a rate-limit check never hangs a tool call), and the client keeps
 * reconnecting in the background with capped backoff.
 */
export function createRedisClient(url: string, onError: (error: Error) => void): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 1000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
  });
  client.on('error', onError);
  return client;
}

/**
 * Resolves once the client is connected, or after `timeoutMs` either way: a server that starts serving before its
 * first connection would answer its first calls in RATE_LIMIT_FAIL_MODE although Redis is fine. A Redis that is
 * really down is the fail mode's business, so the wait is bounded and never throws.
 */
export async function settleConnection(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    client.once('ready', done);
  });
}
