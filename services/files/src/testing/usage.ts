import { readFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RedisInstance } from '@flotilla/testkit';
import { Redis } from 'ioredis';
import { TEMP_PREFIX } from '../paths.js';
import { usageKey } from '../usage-store.js';

/** The bytes of every regular file below `dir`, summed by the test itself (not the server's walk). */
export async function bytesOnDisk(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name.startsWith(TEMP_PREFIX)) continue;
    total += (await lstat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** Reads a tenant's usage keys as the server wrote them. */
export class UsageProbe {
  constructor(readonly admin: Redis) {}

  async committed(tenant: string): Promise<number | undefined> {
    const value = await this.admin.get(usageKey(tenant, 'committed'));
    return value === null ? undefined : Number(value);
  }

  /** The reservations and in-flight counts of every window: all zero once no change is in flight. */
  async inFlight(tenant: string): Promise<{ reserved: number; changes: number }> {
    const prefix = usageKey(tenant, 'committed').replace(/committed$/, '');
    let reserved = 0;
    let changes = 0;
    for (const key of await this.admin.keys(`${prefix}*`)) {
      const value = Number(await this.admin.get(key));
      if (key.includes(':reserved:')) reserved += value;
      if (key.includes(':inflight:')) changes += value;
    }
    return { reserved, changes };
  }
}

/** The value of one series of a Prometheus counter on a server's /metrics (0 when absent). */
export async function metricValue(adminUrl: string, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Adds the files server's Redis user exactly as k8s/redis/users.acl defines it (plus a password), so
 * a test proves the server needs no command or key outside what production grants it.
 */
export async function addFilesRedisUser(redis: RedisInstance, password: string): Promise<string> {
  const acl = readFileSync(new URL('../../../../k8s/redis/users.acl', import.meta.url), 'utf8');
  const line = acl.split('\n').find((entry) => entry.startsWith('user flotilla-files '));
  if (!line) throw new Error('k8s/redis/users.acl has no flotilla-files user');
  const [, name, ...rules] = line.split(/\s+/).filter(Boolean);
  const admin = new Redis(redis.url);
  try {
    await admin.call('ACL', 'SETUSER', name as string, ...rules, `>${password}`);
  } finally {
    admin.disconnect();
  }
  return `redis://${name}:${password}@${redis.host}:${redis.port}`;
}
