import { defineConfig } from 'vitest/config';

/**
 * The settings every package's tests share. Suites start real Postgres and Redis servers, so the
 * timeouts are generous; a JSON report per package lets CI print one closing total for the repo.
 */
export const sharedTestConfig = defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
