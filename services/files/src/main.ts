#!/usr/bin/env node
import { startTracing } from '@flotilla/telemetry/tracing';

// Tracing must start before express and ioredis load, hence the dynamic imports below.
await startTracing('flotilla-files');
const [{ runService }, { filesEnvironment }, { filesService, setupFiles }] = await Promise.all([
  import('@flotilla/runtime'),
  import('./config.js'),
  import('./server.js'),
]);
await runService({ definition: filesService, environment: filesEnvironment, setup: setupFiles });
