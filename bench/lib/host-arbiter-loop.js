'use strict';
// Child of bench/host-path.js: loads the gpu-arbiter build at argv[2] (a package root with dist/
// and its addon), then times N uncontended acquire+release pairs through GpuArbiter with backend
// 'host' (one simulated 16 GiB GPU, the whole GPU per lease: one holder at a time). Prints JSON.
const path = require('node:path');

async function main() {
  const root = process.argv[2];
  const n = Number(process.argv[3]);
  const { GpuArbiter, SimulatedGpu, removeHostNamespace } = require(path.join(root, 'dist'));
  const namespace = `bench-path-${process.pid}`;
  const arbiter = await GpuArbiter.create({
    backend: 'host',
    namespace,
    monitor: new SimulatedGpu([{ totalMiB: 16384 }]),
    maxFraction: 1,
    policies: { T: { priority: 50, vramMiB: 16384 } },
  });
  for (let i = 0; i < n / 10; i++) await (await arbiter.acquire('T')).release(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await (await arbiter.acquire('T')).release();
  const us = Number(process.hrtime.bigint() - t0) / n / 1000;
  await arbiter.close();
  removeHostNamespace(namespace);
  process.stdout.write(`${JSON.stringify({ us })}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
