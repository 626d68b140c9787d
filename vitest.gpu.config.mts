import { defineConfig } from 'vitest/config';

// `npm run test:gpu`: the checks against this host's real NVML and GPU (test/gpu/). Where there
// is none every suite skips, saying why; the report test/gpu/setup.ts prints ends the run.
// The files run one after another: they allocate real VRAM and would disturb each other.
export default defineConfig({
  test: {
    include: ['test/gpu/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    globalSetup: ['test/gpu/setup.ts'],
    testTimeout: 30_000,
  },
});
