import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintApiKey, spawnService, startRedis, writeApiKeysFile } from '@flotilla/testkit';
import { mcpHeaders } from '../database/mcp.ts';
import { NOTIFICATIONS_MAIN } from './database.ts';
import { CHANNEL, TENANT } from './notification.ts';
import type { Receiver } from './receiver.ts';

// High enough never to refuse a request in a benchmark, yet every request still spends a point in Redis.
const RATE_LIMIT_PER_MINUTE = 1_000_000_000;

export interface RunningFlotilla {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly pid: number;
  /** The server's environment as the report shows it (paths and secrets left out). */
  readonly settings: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * Flotilla's notifications server as it runs in production: its own process in the default role
 * (`all`: it serves MCP and delivers), API-key auth, the per-principal rate limit in a real Redis
 * (consulted on every call), the least-privilege runtime role, and one webhook channel pointing at
 * the benchmark's receiver with the receiver's signing secret.
 */
export async function startFlotilla(options: {
  runtimeUrl: string;
  receiver: Receiver;
  workerConcurrency: number;
  maxInflight: number;
  protocol: string;
  /** NODE_OPTIONS for the server, e.g. to write a CPU profile. */
  nodeOptions?: string;
}): Promise<RunningFlotilla> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-notify-'));
  // It holds the channel's signing secret: removed on stop, or at exit if the benchmark dies first.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  const redis = await startRedis();
  try {
    const channelsFile = join(dir, 'channels.json');
    const channel = {
      name: CHANNEL,
      kind: 'webhook',
      description: 'The benchmark receiver, which verifies every signature.',
      url: options.receiver.url,
      secret: options.receiver.secret,
    };
    await writeFile(channelsFile, JSON.stringify({ channels: [channel] }), { mode: 0o600 });
    const apiKey = mintApiKey({ subject: TENANT, tenant: TENANT, scopes: ['notify:send'] });
    const keysFile = await writeApiKeysFile([apiKey.entry]);
    const settings = {
      AUTH_MODE: 'api-key',
      RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
      NOTIFY_WORKER_CONCURRENCY: String(options.workerConcurrency),
      // The default (64) unless the load opens more connections than that: nothing may be shed.
      MAX_INFLIGHT: String(options.maxInflight),
      // The production default: an audit line per tool call and a line per delivery.
      LOG_LEVEL: 'info',
      // Stop promptly once the measurement is over.
      SHUTDOWN_DELAY_MS: '0',
      SHUTDOWN_TIMEOUT_MS: '2000',
    };
    const service = await spawnService(NOTIFICATIONS_MAIN, {
      ...settings,
      AUTH_API_KEYS_FILE: keysFile,
      DATABASE_URL: options.runtimeUrl,
      NOTIFY_CHANNELS_FILE: channelsFile,
      REDIS_URL: redis.url,
      ...(options.nodeOptions ? { NODE_OPTIONS: options.nodeOptions } : {}),
    });
    return {
      url: service.mcpUrl,
      headers: { ...mcpHeaders('send_notification', options.protocol), authorization: `Bearer ${apiKey.key}` },
      pid: service.child.pid ?? 0,
      settings: {
        ...settings,
        role: 'all',
        REDIS_URL: 'a test-kit Redis',
        DATABASE_URL: 'the runtime role (sql/runtime-role.sql)',
      },
      async stop() {
        await service.stop(5000);
        await redis.destroy();
        removeDir();
        process.removeListener('exit', removeDir);
      },
    };
  } catch (error) {
    await redis.destroy();
    removeDir();
    process.removeListener('exit', removeDir);
    throw error;
  }
}
