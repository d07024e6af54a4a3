import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../vitest.shared.js';

export default mergeConfig(
  sharedTestConfig,
  defineConfig({
    test: {
      include: ['**/*.test.ts'],
      exclude: ['**/node_modules/**'],
      testTimeout: 60_000,
      // Suites start real servers and processes: one file at a time keeps a 2-core machine predictable.
      fileParallelism: false,
    },
  }),
);
