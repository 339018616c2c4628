import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
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
