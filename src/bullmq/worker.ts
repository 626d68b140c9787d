// GpuWorker: a BullMQ worker that takes a job only when the GPU has room for it. Each of its
// `concurrency` slots loops: look at the job at the head of the queue (next-job.ts), ask the
// arbiter for a lease sized for it (vramFor, else the task's policy), and only then take the job
// from BullMQ (manual fetching: a Worker with no processor, getNextJob with a token of ours);
// the job then runs under the lease (job-run.ts). While no GPU fits, the slot waits in the
// arbiter's queue (or, under SKIP/REJECT/timeouts, retries after idlePollMs) and takes nothing.
// One slot at a time looks and asks (fetchLock), so a worker has at most one request queued.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Mutex } from 'async-mutex';
import type { Job, Queue, Worker } from 'bullmq';
import type { Lease } from '../arbiter/lease';
import { isGpuArbiterError } from '../errors';
import { type JobEnd, runJob } from './job-run';
import { loadBullmq } from './load';
import { peekNextJob } from './next-job';
import { type GpuArbiterLike, type GpuProcessor, type GpuWorkerOptions, type ParsedWorkerOptions, parseWorkerOptions } from './options';

interface Taken<D, R> {
  job: Job<D, R>;
  token: string;
  lease: Lease;
}

/**
 * Events: `active` (job, lease), `completed` (job, result), `failed` (job, error) - also after a
 * lost lease, whose error is E_LEASE_LOST -, `lease-lost` (job, error), `lock-lost` (job, error),
 * `busy` ({ queue, task, reason }) when the arbiter said no (the worker retries after
 * idlePollMs), `error` (error) for failures off a job's path.
 * @example
 * const worker = new GpuWorker(arbiter, 'ocr', async (job, { lease, signal }) => ocr(job.data, lease.env, signal), {
 *   connection: { host: '127.0.0.1', port: 6379 },
 *   task: 'OCR',
 *   vramFor: (job) => job.data.pages > 50 ? 6000 : 3000,
 *   concurrency: 4,
 * });
 */
export class GpuWorker<D = unknown, R = unknown> extends EventEmitter {
  readonly queueName: string;
  /** The arbiter task this queue's jobs run under. */
  readonly task: string;
  /** BullMQ's Worker (no processor: jobs are fetched by hand). */
  readonly worker: Worker<D, R>;
  /** BullMQ's Queue, for looking at the next job. */
  readonly queue: Queue<D, R>;
  private readonly o: ParsedWorkerOptions<D>;
  private readonly closing = new AbortController();
  private readonly fetchLock = new Mutex();
  private readonly slots: Promise<void>[];
  private closed: Promise<void> | null = null;
  private active = 0;

  constructor(
    private readonly arbiter: GpuArbiterLike,
    queueName: string,
    private readonly processor: GpuProcessor<D, R>,
    options: GpuWorkerOptions<D>,
  ) {
    super();
    this.o = parseWorkerOptions<D>(arbiter, queueName, options);
    if (typeof processor !== 'function') throw new TypeError('Expected a function for processor');
    this.queueName = queueName;
    this.task = this.o.task;
    const { Worker: BullWorker, Queue: BullQueue } = loadBullmq();
    const { connection, lockDuration } = this.o;
    this.worker = new BullWorker<D, R>(queueName, null, { ...this.o.workerOptions, connection, lockDuration, autorun: false });
    const prefix = this.o.workerOptions.prefix;
    this.queue = new BullQueue<D, R>(queueName, { connection, ...(prefix === undefined ? {} : { prefix }) }) as Queue<D, R>;
    this.worker.on('error', (err) => this.reportError(err));
    this.queue.on('error', (err) => this.reportError(err));
    // Jobs of a worker that died (SIGKILL, lost host) come back to the wait list through
    // BullMQ's stalled-job check; a worker without a processor has to start it itself.
    this.worker.startStalledCheckTimer().catch((err: unknown) => this.reportError(err));
    this.slots = Array.from({ length: this.o.concurrency }, () => this.slot());
  }

  /** Jobs running now. */
  get running(): number {
    return this.active;
  }

  private reportError(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'GpuWorkerWarning');
  }

  private get isClosing(): boolean {
    return this.closing.signal.aborted;
  }

  /** Waits idlePollMs, or less when the worker closes. */
  private pause(): Promise<void> {
    return new Promise((resolve) => {
      if (this.isClosing) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        this.closing.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.o.idlePollMs);
      this.closing.signal.addEventListener('abort', done, { once: true });
    });
  }

  private async slot(): Promise<void> {
    while (!this.isClosing) {
      let taken: Taken<D, R> | null;
      try {
        taken = await this.fetchLock.runExclusive(() => (this.isClosing ? null : this.take()));
      } catch (err) {
        if (this.isClosing) break;
        this.reportError(err);
        await this.pause();
        continue;
      }
      if (taken !== null) await this.runTaken(taken);
    }
  }

  /** The VRAM a job asks for (vramFor, whole MiB rounded up), or undefined for the task's policy. */
  private async sizeOf(job: Job<D, R>): Promise<number | undefined> {
    if (this.o.vramFor === null) return undefined;
    const mib = await this.o.vramFor(job as unknown as Job<D>);
    // A size computed from the job (pages * 1.5) need not be whole; anything else is acquire()'s to refuse.
    return typeof mib === 'number' && Number.isFinite(mib) ? Math.ceil(mib) : mib;
  }

  /** Looks, leases, takes: a job with its lease, or null (nothing taken; paused if idle or refused). */
  private async take(): Promise<Taken<D, R> | null> {
    const head = (await peekNextJob<D>(this.queue as unknown as Queue)) as Job<D, R> | null;
    if (head === null) {
      await this.pause();
      return null;
    }
    let lease: Lease;
    try {
      const mib = await this.sizeOf(head);
      lease = await this.arbiter.acquire(this.task, {
        ...(mib === undefined ? {} : { vramMiB: mib }),
        signal: this.closing.signal,
        // The label names the queue; a label is printable ASCII without spaces (arbiter/options.ts).
        label: { stage: this.queueName.replace(/[^\x21-\x7e]/g, '_').slice(0, 100) },
      });
    } catch (err) {
      if (this.isClosing) return null;
      // The head job can never run (bigger than any GPU, or vramFor refused it): fail it.
      if (isGpuArbiterError(err, 'E_DOES_NOT_FIT') || isGpuArbiterError(err, 'E_INVALID_ARGUMENT') || !isGpuArbiterError(err)) {
        await this.failHead(head, err);
        return null;
      }
      this.emit('busy', { queue: this.queueName, task: this.task, reason: err.code });
      await this.pause();
      return null;
    }
    const token = randomUUID();
    let job: Job<D, R> | undefined;
    try {
      job = await this.worker.getNextJob(token, { block: false });
    } catch (err) {
      await lease.release();
      throw err;
    }
    if (job === undefined || job === null) {
      // Another worker took it meanwhile, or BullMQ hands out nothing now (the queue is paused,
      // a rate limit holds): look again after a pause, not at once.
      await lease.release();
      await this.pause();
      return null;
    }
    if (job.id !== head.id && !(await this.fits(job, lease))) {
      // Another worker took the job we sized for, and this one needs more: put it back at the
      // head of the queue (BullMQ's moveToWait) and size again.
      await job.moveToWait(token).catch((err: unknown) => this.reportError(err));
      await lease.release();
      return null;
    }
    return { job, token, lease };
  }

  private async fits(job: Job<D, R>, lease: Lease): Promise<boolean> {
    try {
      const need = await this.sizeOf(job);
      return (need ?? this.arbiter.policies().get(this.task)?.vramMiB ?? Number.POSITIVE_INFINITY) <= lease.vramMiB;
    } catch {
      return false; // vramFor throws for it: it is failed when it comes to the head
    }
  }

  /** Takes the head job to fail it (no lease: it will not run); any other job taken goes back. */
  private async failHead(head: Job<D, R>, err: unknown): Promise<void> {
    const { UnrecoverableError } = loadBullmq();
    const token = randomUUID();
    const job = await this.worker.getNextJob(token, { block: false });
    if (job === undefined || job === null) return;
    if (job.id !== head.id) {
      await job.moveToWait(token);
      return;
    }
    const why = err instanceof Error ? err.message : String(err);
    const error = isGpuArbiterError(err, 'E_DOES_NOT_FIT')
      ? new UnrecoverableError(`No GPU can hold job ${job.id}: ${why}`)
      : err instanceof Error
        ? err
        : new Error(why);
    await job.moveToFailed(error, token, false);
    this.emit('failed', job, error);
  }

  private async runTaken({ job, token, lease }: Taken<D, R>): Promise<void> {
    this.active++;
    let end: JobEnd<R>;
    try {
      this.emit('active', job, lease);
      end = await runJob(job, token, lease, this.processor, this.o.lockDuration, { error: (err) => this.reportError(err) });
    } finally {
      this.active--;
    }
    if (end.kind === 'completed') this.emit('completed', job, end.result);
    else if (end.kind === 'failed') this.emit('failed', job, end.error);
    else if (end.kind === 'lease-lost') {
      this.emit('lease-lost', job, end.error);
      this.emit('failed', job, end.error);
    } else this.emit('lock-lost', job, end.error);
  }

  /**
   * Stops taking jobs, gives up a lease request in flight, waits for the running jobs to end,
   * then closes BullMQ's worker and queue. Idempotent.
   */
  close(): Promise<void> {
    if (this.closed === null) {
      this.closing.abort(new Error('GpuWorker closing'));
      this.closed = (async () => {
        await Promise.all(this.slots);
        await this.worker.close();
        await this.queue.close();
      })();
    }
    return this.closed;
  }
}
