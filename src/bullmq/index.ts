// `gpu-arbiter/bullmq`: BullMQ workers that take a job only when a GPU has room for it
// (README "BullMQ"). bullmq is an optional peer dependency, loaded by the first GpuWorker.
export { GpuWorker } from './worker';
export type { GpuArbiterLike, GpuJobContext, GpuProcessor, GpuWorkerOptions } from './options';
export type { JobEnd } from './job-run';
