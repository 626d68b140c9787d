// BullMQ: a worker that takes an OCR job only when the GPU has room for it. Each job says how
// many pages it has; vramFor sizes its lease; the 16 GiB GPU (simulated) runs as many at once as
// fit. Needs a Redis server: REDIS_PORT (default 6379) on 127.0.0.1.
//   node examples/bullmq-worker.js        (after npm install; README "BullMQ")
const { Queue } = require('bullmq');
const { GpuArbiter, SimulatedGpu } = require('..');
const { GpuWorker } = require('../dist/bullmq'); // in an application: require('gpu-arbiter/bullmq')

async function main() {
  const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379), maxRetriesPerRequest: null };
  const arbiter = await GpuArbiter.create({
    monitor: new SimulatedGpu([{ totalMiB: 16384 }]),
    maxFraction: 1,
    policies: { OCR: { priority: 50, vramMiB: 2048 } },
  });
  const queue = new Queue(`ocr-example-${process.pid}`, { connection });
  await queue.addBulk([10, 40, 80, 20].map((pages, i) => ({ name: 'scan', data: { pages }, opts: { jobId: `scan-${i + 1}`, attempts: 3 } })));

  let running = 0;
  let most = 0;
  const worker = new GpuWorker(
    arbiter,
    queue.name,
    async (job, { lease, signal }) => {
      most = Math.max(most, ++running);
      // Real work would start a process with lease.env (CUDA_VISIBLE_DEVICES) and stop on `signal`.
      await new Promise((resolve) => setTimeout(resolve, 50));
      running--;
      if (signal.aborted) throw signal.reason;
      return `${job.data.pages} pages in ${lease.vramMiB} MiB`;
    },
    {
      connection,
      task: 'OCR',
      vramFor: (job) => 2048 + job.data.pages * 100, // 3 GiB for 10 pages, 10 GiB for 80
      concurrency: 4,
    },
  );
  const results = [];
  await new Promise((resolve) => {
    worker.on('completed', (job, result) => {
      results.push(`${job.id}: ${result}`);
      if (results.length === 4) resolve();
    });
  });
  for (const line of results.sort()) console.log(line);
  console.log(`at most ${most} jobs at once (16384 MiB of GPU)`);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await arbiter.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
