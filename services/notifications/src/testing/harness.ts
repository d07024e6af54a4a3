import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningService, startService } from '@flotilla/runtime';
import {
  callTool,
  LOCAL_TEST_SERVER_ENV,
  NOTIFICATIONS_ROLES,
  type NotificationsDatabase,
  type PostgresInstance,
  prepareNotificationsDatabase,
  queryOnce,
  resultOf,
  type ServiceProcess,
  spawnService,
  startPostgres,
} from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import type pg from 'pg';
import { stringify } from 'yaml';
import { notificationsEnvironment } from '../config.js';
import { migrate } from '../migrate.js';
import { notificationsService, type Role, setupNotifications } from '../server.js';

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export const RUNTIME_ROLE = NOTIFICATIONS_ROLES.runtime.name;
export const MIGRATION_ROLE = NOTIFICATIONS_ROLES.migration.name;

/** A fresh Standard Webhooks signing secret. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface TestNotifications {
  postgres: PostgresInstance;
  /** The runtime role from sql/runtime-role.sql: what every test server connects as. */
  runtimeUrl: string;
  migrationUrl: string;
  channelsFile: string;
  /** One superuser connection per statement. */
  admin(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** A server in this process: HTTP on loopback, no auth unless `env` says otherwise. */
  startServer(env?: Record<string, string>, role?: Role): Promise<RunningService>;
  /** The built server (dist/main.js) as its own process, the way it runs in production. */
  spawnServer(env?: Record<string, string>, args?: string[]): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

/**
 * A throwaway Postgres bootstrapped the way an operator would: the shipped migration-role.sql and
 * runtime-role.sql run as the superuser, then the migration as the migration role. Servers log in
 * as the runtime role only.
 */
export async function startTestNotifications(options: {
  channels: unknown[];
  serverEnv?: Record<string, string>;
}): Promise<TestNotifications> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-notify-'));
  const channelsFile = join(dir, 'channels.yaml');
  await writeFile(channelsFile, stringify({ channels: options.channels }));
  const postgres = await startPostgres();
  const services: RunningService[] = [];
  const processes: ServiceProcess[] = [];
  const admin = (sql: string, params: unknown[] = []) => queryOnce(postgres.url, sql, params);
  let prepared: NotificationsDatabase;
  try {
    // In-process migration: the service's own tests need no build.
    prepared = await prepareNotificationsDatabase(postgres, { connectionLimit: 100, migrate });
  } catch (error) {
    await postgres.destroy();
    throw error;
  }
  const { runtimeUrl, migrationUrl } = prepared;
  const serverEnv = (env: Record<string, string> = {}) => ({
    ...LOCAL_TEST_SERVER_ENV,
    SHUTDOWN_TIMEOUT_MS: '3000',
    DATABASE_URL: runtimeUrl,
    NOTIFY_CHANNELS_FILE: channelsFile,
    NOTIFY_RETRY_BASE_MS: '50',
    NOTIFY_DELIVERY_TIMEOUT_MS: '2000',
    ...options.serverEnv,
    ...env,
  });
  return {
    postgres,
    runtimeUrl,
    migrationUrl,
    channelsFile,
    admin,
    async startServer(env = {}, role = 'all') {
      const service = await startService({
        definition: notificationsService,
        environment: notificationsEnvironment,
        setup: (kit) => setupNotifications(kit, role),
        transport: role === 'worker' ? 'none' : 'http',
        env: serverEnv(env),
      });
      services.push(service);
      return service;
    },
    async spawnServer(env = {}, args = []) {
      const child = await spawnService(MAIN, { ...serverEnv(env), PORT: '', ADMIN_PORT: '' }, 20_000, args);
      processes.push(child);
      return child;
    },
    async stop() {
      await Promise.all([
        ...services.map((service) => service.shutdown()),
        ...processes.map((child) => child.stop(2000)),
      ]);
      await postgres.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface NotificationState {
  id: string;
  status: string;
  attempts: number;
  lastError: string | null;
  deliveredAt: string | null;
  sendAt: string;
}

/** Polls get_notification until `done` holds. */
export async function waitForNotification(
  client: Client,
  id: string,
  done: (state: NotificationState) => boolean,
  timeoutMs = 15_000,
): Promise<NotificationState> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const state = resultOf<NotificationState>(await callTool(client, 'get_notification', { id }));
    if (done(state)) return state;
    if (Date.now() > deadline) throw new Error(`notification ${id} is still ${JSON.stringify(state)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const isFinal = (state: NotificationState) => ['delivered', 'failed', 'cancelled'].includes(state.status);
