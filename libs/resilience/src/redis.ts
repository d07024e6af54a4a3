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
