#!/usr/bin/env node
import { startTracing } from '@flotilla/telemetry/tracing';

// Tracing must start before express, pg and ioredis load, hence the dynamic imports below.
await startTracing('flotilla-database');
const [{ runService }, { databaseEnvironment }, { databaseService, setupDatabase }] = await Promise.all([
  import('@flotilla/runtime'),
  import('./config.js'),
  import('./server.js'),
]);
await runService({ definition: databaseService, environment: databaseEnvironment, setup: setupDatabase });
