// The four busy policies on one 16 GiB GPU that an 8 GiB job keeps busy. Runs anywhere: the
// GPU is simulated (SimulatedGpu), so no NVIDIA driver is needed.
//   node examples/busy-policies.js        (after npm install; README "Busy policies, by example")
const { GpuArbiter, SimulatedGpu } = require('..');

async function main() {
  const gpu = new SimulatedGpu([{ totalMiB: 16384 }]);
  const arbiter = await GpuArbiter.create({
    monitor: gpu,
    maxFraction: 1,
    policies: {
      TRAIN: { priority: 50, vramMiB: 8192 }, // WAIT
      ASR: { priority: 90, vramMiB: 10240, busyPolicy: 'WAIT', maxWaitMs: 200 },
      REPAIR: { priority: 20, vramMiB: 10240, busyPolicy: 'SKIP', maxWaitMs: 100 },
      OCR: { priority: 40, vramMiB: 10240, busyPolicy: 'FALLBACK_CPU', maxWaitMs: 100 },
      PREVIEW: { priority: 30, vramMiB: 10240, busyPolicy: 'REJECT' },
    },
  });
  const busy = await arbiter.acquire('TRAIN'); // 8 GiB held: none of the 10 GiB jobs fits now

  // WAIT: queue up to maxWaitMs, then E_TIMEOUT.
  await arbiter.acquire('ASR').catch((err) => console.log('WAIT         ->', err.code));

  // SKIP: wait up to maxWaitMs, then resolve { status: 'skipped' } (the work is not done).
  const skipped = await arbiter.run('REPAIR', () => 'repaired on GPU');
  console.log('SKIP         ->', skipped.status);

  // FALLBACK_CPU: as SKIP, but run the fallback instead.
  const ocr = await arbiter.run('OCR', () => 'GPU text', { fallback: () => 'CPU text' });
  console.log('FALLBACK_CPU ->', ocr.status, ocr.value);

  // REJECT: E_BUSY at once.
  await arbiter.run('PREVIEW', () => 'preview').catch((err) => console.log('REJECT       ->', err.code));

  // Once the GPU is free, the same calls just run.
  await busy.release();
  const ran = await arbiter.run('OCR', () => 'GPU text', { fallback: () => 'CPU text' });
  console.log('free GPU     ->', ran.status, ran.value);
  await arbiter.close();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
