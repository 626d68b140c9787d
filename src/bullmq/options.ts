// Options of GpuWorker (`gpu-arbiter/bullmq`), validated once at construction.
import type { Job, WorkerOptions } from 'bullmq';
import type { Lease } from '../arbiter/lease';
import type { AcquireOptions } from '../arbiter/options';
import { GpuArbiterError } from '../errors';
import type { TaskPolicy } from '../policy/task-policy';
import { integerInRange, invalid, knownKeys, nonEmptyString, optionsObject } from '../util/validate';

/** The members of a GpuArbiter the worker uses (a GpuArbiter fits). */
export interface GpuArbiterLike {
  acquire(task: string, options?: AcquireOptions): Promise<Lease>;
  policies(): ReadonlyMap<string, TaskPolicy>;
}

/** What the processor gets besides the job. */
export interface GpuJobContext {
  /** The GPU share the job runs under: `lease.env` for child processes, `lease.device`. */
  lease: Lease;
  /** Aborts when the lease is lost (the job is failed, retryably) or the job's lock is lost. */
  signal: AbortSignal;
  /** The job's lock token (for job.updateProgress and the like, which do not need it; moveTo* do). */
  token: string;
}

export type GpuProcessor<D = unknown, R = unknown> = (job: Job<D, R>, ctx: GpuJobContext) => Promise<R>;

/** Options of {@link GpuWorker}. */
export interface GpuWorkerOptions<D = unknown> {
  /** BullMQ's connection (as for its Worker and Queue). */
  connection: WorkerOptions['connection'];
  /** The arbiter task jobs of this queue run under (its priority, busy policy, default size). @default the queue name */
  task?: string;
  /**
   * MiB of VRAM the job needs; undefined: the task's policy decides. Called for the job at the
   * head of the queue before it is taken, and again for the job taken.
   */
  vramFor?: (job: Job<D>) => number | undefined | Promise<number | undefined>;
  /** Most jobs this worker runs at once; the GPU may admit fewer. @default 1 */
  concurrency?: number;
  /** BullMQ's job lock, extended every lockDuration/2 while the job runs. @default 30000 */
  lockDuration?: number;
  /** How often an idle worker looks for a job, and waits after the GPU said no (SKIP/REJECT/timeout). @default 200 */
  idlePollMs?: number;
  /** Other BullMQ Worker options (prefix, stalledInterval, maxStalledCount, ...); `autorun` is always false. */
  workerOptions?: Omit<WorkerOptions, 'connection' | 'concurrency' | 'lockDuration' | 'autorun'>;
}

/** @internal */
export interface ParsedWorkerOptions<D> {
  connection: WorkerOptions['connection'];
  task: string;
  vramFor: ((job: Job<D>) => number | undefined | Promise<number | undefined>) | null;
  concurrency: number;
  lockDuration: number;
  idlePollMs: number;
  workerOptions: Omit<WorkerOptions, 'connection' | 'concurrency' | 'lockDuration' | 'autorun'>;
}

const KEYS = ['connection', 'task', 'vramFor', 'concurrency', 'lockDuration', 'idlePollMs', 'workerOptions'];

/** @internal */
export function parseWorkerOptions<D>(arbiter: GpuArbiterLike, queue: string, value: unknown): ParsedWorkerOptions<D> {
  if (typeof arbiter?.acquire !== 'function' || typeof arbiter.policies !== 'function') throw invalid('arbiter', 'a GpuArbiter', arbiter);
  nonEmptyString('queue', queue);
  const o = optionsObject<GpuWorkerOptions<D>>('options', value);
  knownKeys('options', o, KEYS);
  if (o.connection === undefined || o.connection === null || typeof o.connection !== 'object') {
    throw invalid('options.connection', 'a BullMQ connection (ioredis options or client)', o.connection);
  }
  const task = o.task === undefined ? queue : nonEmptyString('options.task', o.task);
  if (!arbiter.policies().has(task)) {
    const known = [...arbiter.policies().keys()].join(', ');
    throw new GpuArbiterError(
      'E_UNKNOWN_TASK',
      `Queue ${JSON.stringify(queue)} runs under task ${JSON.stringify(task)}, which the arbiter does not have (${known})`,
      {
        task,
      },
    );
  }
  if (o.vramFor !== undefined && typeof o.vramFor !== 'function') throw invalid('options.vramFor', 'a function', o.vramFor);
  const workerOptions = optionsObject<Record<string, unknown>>('options.workerOptions', o.workerOptions);
  for (const k of ['connection', 'concurrency', 'lockDuration', 'autorun']) {
    if (k in workerOptions)
      throw invalid(`options.workerOptions.${k}`, `nothing (set options.${k === 'autorun' ? 'concurrency' : k} instead)`, workerOptions[k]);
  }
  return {
    connection: o.connection,
    task,
    vramFor: o.vramFor ?? null,
    concurrency: o.concurrency === undefined ? 1 : integerInRange('options.concurrency', o.concurrency, 1, 1024),
    lockDuration: o.lockDuration === undefined ? 30_000 : integerInRange('options.lockDuration', o.lockDuration, 100, 86_400_000),
    idlePollMs: o.idlePollMs === undefined ? 200 : integerInRange('options.idlePollMs', o.idlePollMs, 1, 60_000),
    workerOptions: workerOptions as ParsedWorkerOptions<D>['workerOptions'],
  };
}
