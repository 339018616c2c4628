import { defineConfig } from 'vitest/config';

// npm run test:stress: the long load runs (test/**/*.stress.ts); .ci/run runs it after the suites.
export default defineConfig({
  test: {
    include: ['test/**/*.stress.ts'],
    // bin/stillframe.js runs dist/: build it first (~2 s).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    maxWorkers: 1,
  },
});
