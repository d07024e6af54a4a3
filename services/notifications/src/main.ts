#!/usr/bin/env node
import { startTracing } from '@flotilla/telemetry/tracing';

const argv = process.argv.slice(2);
const ROLES = ['api', 'worker', 'all'] as const;

if (argv.includes('--migrate')) {
  const { runMigrations } = await import('./migrate.js');
  await runMigrations();
}

const roleArgument = argv.find((arg) => arg.startsWith('--role='))?.slice('--role='.length) ?? 'all';
const role = ROLES.find((candidate) => candidate === roleArgument);
if (!role) {
  process.stderr.write(`flotilla-notifications: --role must be one of ${ROLES.join(', ')}, got "${roleArgument}"\n`);
  process.exit(1);
}
if (role === 'worker' && argv.includes('--stdio')) {
  process.stderr.write('flotilla-notifications: --role=worker serves no MCP, so it cannot be combined with --stdio\n');
  process.exit(1);
}

// Tracing must start before express, pg and ioredis load, hence the dynamic imports below.
await startTracing('flotilla-notifications');
const [{ runService }, { notificationsEnvironment }, { notificationsService, setupNotifications }] = await Promise.all([
  import('@flotilla/runtime'),
  import('./config.js'),
  import('./server.js'),
]);
await runService({
  definition: notificationsService,
  environment: notificationsEnvironment,
  setup: (kit) => setupNotifications(kit, role),
  // A worker has no MCP endpoint, only the admin port with its probes and metrics.
  ...(role === 'worker' ? { transport: 'none' as const } : {}),
});
