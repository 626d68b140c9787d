import { spawnSync } from 'node:child_process';
import { defineConfig } from 'vitest/config';

// The Redis suites start real redis-server processes. Where none is installed they are left
// out with the reason printed - except under CI, whose .ci/run installs redis-server, so a
// missing server there fails loudly instead of passing by skipping.
const redisServer = process.env.REDIS_SERVER ?? 'redis-server';
const redisMissing = spawnSync(redisServer, ['--version'], { encoding: 'utf8' }).error !== undefined;
const skipRedis = redisMissing && !process.env.CI;
if (skipRedis) {
  console.warn(
    `gpu-arbiter tests: the Redis suites (test/*redis*.test.ts) are skipped: ${redisServer} is not on the PATH ` +
      '(apt-get install -y redis-server to run them).',
  );
}

// Suites load the native addon: run them in forked processes (not threads), so a crash or a
// leaked native thread in one file cannot take the others down.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/gpu/**', 'node_modules/**', ...(skipRedis ? ['test/*redis*.test.ts'] : [])],
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Under CI a JSON report too, from which .ci/run prints a one-line "N passed, N failed".
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'build/test-report.json' },
  },
});
