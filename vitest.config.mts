import { defineConfig } from 'vitest/config';

// Suites load the native addon: run them in forked processes (not threads), so a crash or a
// leaked native thread in one file cannot take the others down.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/gpu/**', 'node_modules/**'],
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Under CI a JSON report too, from which .ci/run prints a one-line "N passed, N failed".
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'build/test-report.json' },
  },
});
