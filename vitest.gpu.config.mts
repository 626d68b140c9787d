import { defineConfig } from 'vitest/config';

// `npm run test:gpu`: the monitor checks against the real NVML of this host.
export default defineConfig({
  test: {
    include: ['test/gpu/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
  },
});
