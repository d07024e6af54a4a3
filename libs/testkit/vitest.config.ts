import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Real servers: the first start of a file also pays for initdb and runtime detection.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
