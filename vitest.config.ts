import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // test/unit/ (one file per module of src/, same path) and the scenario suites by concern (test/http,
    // tasks, storage, fleet, security, fuzz, e2e, fixtures); test/support/ holds no tests.
    include: ['test/**/*.test.ts'],
    // bin/stillframe.js runs dist/: build it first (~2 s).
    globalSetup: ['test/global-setup.ts'],
    // Fixture videos are generated on first use (then cached in test/.fixtures): allow for it.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Real capture workers decode in every integration test; two vitest workers match the 2-core machines.
    maxWorkers: 2,
  },
});
