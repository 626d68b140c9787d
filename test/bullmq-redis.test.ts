// Issue 18, part 3: GpuWorker (`gpu-arbiter/bullmq`) against a real redis-server and real BullMQ,
// in one process over a simulated 8 GiB GPU (backend 'local'). The multi-process scenario
// (priorities, two worker processes, a SIGKILLed worker) is test/bullmq-redis-processes.test.ts.
import { type Job, Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { Lease } from '../src/arbiter/lease';
import type { GpuWorkerOptions } from '../src/bullmq/options';
import { GpuWorker } from '../src/bullmq/worker';
import { fakeGpus, GiB } from './helpers/fake-monitor';
import { RedisServer } from './helpers/redis-server';

let redis: RedisServer;
const open: Array<{ close(): Promise<unknown> }> = [];
let seq = 0;

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  // Workers first (they use the arbiter and the queues), then the rest.
  for (const x of open.splice(0).reverse()) await x.close();
});

const connection = (): { host: string; port: number; maxRetriesPerRequest: null } => ({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null });

async function arbiterWith(policies: Record<string, object>): Promise<GpuArbiter> {
  const a = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 8 * GiB }), maxFraction: 1, policies: policies as never });
  open.push(a);
  return a;
}

function queue(): Queue {
  const q = new Queue(`q${++seq}`, { connection: connection() });
  open.push(q);
  return q;
}

function worker<D, R>(
  a: GpuArbiter,
  q: Queue,
  fn: (job: Job<D, R>, ctx: { lease: Lease; signal: AbortSignal }) => Promise<R>,
  o: Partial<GpuWorkerOptions<D>> = {},
): GpuWorker<D, R> {
  const w = new GpuWorker<D, R>(a, q.name, fn, { connection: connection(), task: 'JOB', idlePollMs: 20, ...o });
  w.on('error', (err) => {
    throw err;
  });
  open.push(w);
  return w;
}

/** Resolves with the job's state once it is `state`. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const stateOf = (q: Queue, id: string) => q.getJobState(id);

describe('GpuWorker: a job is taken only when the GPU has room', () => {
  it('leaves the job in the queue while the GPU is full and takes it once a lease is granted', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 4 * GiB }, OTHER: { priority: 90, vramMiB: 6 * GiB } });
    const q = queue();
    const blocker = await a.acquire('OTHER');
    const job = await q.add('ocr', { page: 1 });
    const ran: number[] = [];
    worker(a, q, async (j: Job<{ page: number }>, { lease }) => {
      ran.push(lease.vramMiB);
      return j.data.page;
    });
    // The worker's request waits in the arbiter's queue; the job stays in BullMQ's.
    await until(
      async () => a.snapshot().queues.flatMap((x) => x.waiters).length,
      (n) => n === 1,
      'the worker to queue for the GPU',
    );
    expect(await stateOf(q, job.id!)).toBe('waiting');
    expect(ran).toEqual([]);
    await blocker.release();
    await until(
      () => stateOf(q, job.id!),
      (s) => s === 'completed',
      'the job to complete',
    );
    expect(ran).toEqual([4 * GiB]);
    expect((await q.getJob(job.id!))!.returnvalue).toBe(1);
    // Released on completion.
    expect(a.snapshot().holders).toEqual([]);
  });

  it('sizes each lease with vramFor(job) and runs jobs side by side as far as the VRAM allows', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 1024 } });
    const q = queue();
    const sizes = [3, 3, 2, 5, 1].map((n) => n * GiB);
    let held = 0;
    let peak = 0;
    const seen: Array<[number, number]> = [];
    await q.addBulk(sizes.map((mib, i) => ({ name: 'job', data: { mib, i } })));
    const w = worker(
      a,
      q,
      async (job: Job<{ mib: number; i: number }>, { lease }) => {
        seen.push([job.data.mib, lease.vramMiB]);
        held += lease.vramMiB;
        peak = Math.max(peak, held);
        await new Promise((r) => setTimeout(r, 60));
        held -= lease.vramMiB;
      },
      { vramFor: (job) => job.data.mib, concurrency: 4 },
    );
    await until(
      () => q.getJobCounts('completed'),
      (c) => c.completed === sizes.length,
      'all jobs',
    );
    expect(seen.every(([need, got]) => need === got)).toBe(true);
    expect(peak).toBeLessThanOrEqual(8 * GiB);
    // 3 + 3 + 2 fit together on 8 GiB: the worker ran more than one job at once.
    expect(peak).toBeGreaterThan(5 * GiB);
    expect(w.running).toBe(0);
  });

  it('a job bigger than any GPU is failed for good (UnrecoverableError); the next one runs', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 1024 } });
    const q = queue();
    const big = await q.add('big', { mib: 9 * GiB }, { attempts: 3 });
    const small = await q.add('small', { mib: 1024 });
    worker(a, q, async () => 'ok', { vramFor: (job: Job<{ mib: number }>) => job.data.mib });
    await until(
      () => stateOf(q, small.id!),
      (s) => s === 'completed',
      'the small job',
    );
    const failed = (await q.getJob(big.id!))!;
    expect(await failed.getState()).toBe('failed');
    expect(failed.failedReason).toMatch(/No GPU can hold job/);
    expect(failed.attemptsMade).toBeLessThanOrEqual(1);
  });

  it('a failing processor fails the job and releases the lease; BullMQ retries it with its backoff', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 1024 } });
    const q = queue();
    const job = await q.add('flaky', {}, { attempts: 2, backoff: { type: 'fixed', delay: 200 } });
    let calls = 0;
    const failures: string[] = [];
    const w = worker(a, q, async () => {
      calls++;
      if (calls === 1) throw new Error('CUDA error: an illegal memory access');
      return 'second time';
    });
    w.on('failed', (_job, err: Error) => failures.push(err.message));
    // The retry waits in BullMQ's delayed set; the worker promotes it when due (next-job.ts).
    await until(
      () => stateOf(q, job.id!),
      (s) => s === 'completed',
      'the retried job',
    );
    expect(calls).toBe(2);
    expect(failures).toEqual(['CUDA error: an illegal memory access']);
    expect(a.snapshot().holders).toEqual([]);
  });

  it('a lost lease aborts the processor’s signal and fails the job with a retryable E_LEASE_LOST', async () => {
    // The first lease is revoked after 100 ms (holdMaxMs + revokeOnHoldMax); the retry is quick.
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 1024, holdMaxMs: 100, revokeOnHoldMax: true, revokeGraceMs: 0 } });
    const q = queue();
    const job = await q.add('long', {}, { attempts: 2 });
    const aborts: string[] = [];
    const lost: string[] = [];
    let calls = 0;
    const w = worker(a, q, async (_job, { signal }) => {
      calls++;
      if (calls > 1) return 'done';
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      aborts.push((signal.reason as { code?: string }).code ?? '?');
      return 'ignored: the job was already failed';
    });
    w.on('lease-lost', (_job, err: { code: string }) => lost.push(err.code));
    await until(
      () => stateOf(q, job.id!),
      (s) => s === 'completed',
      'the retried job',
    );
    const done = (await q.getJob(job.id!))!;
    expect({ aborts, lost, calls, attemptsMade: done.attemptsMade, value: done.returnvalue }).toEqual({
      aborts: ['E_LEASE_LOST'],
      lost: ['E_LEASE_LOST'],
      calls: 2,
      attemptsMade: 2, // BullMQ counts the attempt that completed too
      value: 'done',
    });
  });

  it('extends the job lock while the job runs: a job longer than lockDuration is not stalled or run twice', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 1024 } });
    const q = queue();
    const job = await q.add('long', {});
    let calls = 0;
    const lockLost: unknown[] = [];
    const w = worker(
      a,
      q,
      async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 1500));
        return 'ok';
      },
      { lockDuration: 400, workerOptions: { stalledInterval: 200 } },
    );
    w.on('lock-lost', (_j, err) => lockLost.push(err));
    await until(
      () => stateOf(q, job.id!),
      (s) => s === 'completed',
      'the long job',
    );
    expect({ calls, lockLost, stalled: (await q.getJob(job.id!))!.stalledCounter ?? 0 }).toEqual({ calls: 1, lockLost: [], stalled: 0 });
  });

  it('close() gives up a lease request in flight and leaves the job in the queue', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 4 * GiB }, OTHER: { priority: 90, vramMiB: 6 * GiB } });
    const q = queue();
    const blocker = await a.acquire('OTHER');
    const job = await q.add('ocr', {});
    const w = worker(a, q, async () => 'never');
    await until(
      async () => a.snapshot().queues.flatMap((x) => x.waiters).length,
      (n) => n === 1,
      'the worker to queue for the GPU',
    );
    await w.close();
    expect(a.snapshot().queues.flatMap((x) => x.waiters)).toEqual([]);
    expect(await stateOf(q, job.id!)).toBe('waiting');
    await blocker.release();
  });

  it('a fractional size is rounded up to whole MiB; a queue name that is no valid label is made one', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 1024 } });
    const q = new Queue(`scan queue é ${++seq}`, { connection: connection() });
    open.push(q);
    const job = await q.add('scan', { pages: 7 });
    const leases: Array<{ vramMiB: number; label: string | null }> = [];
    worker(
      a,
      q,
      async (_job, { lease }) => {
        leases.push({ vramMiB: lease.vramMiB, label: lease.label });
      },
      { vramFor: (j: Job<{ pages: number }>) => j.data.pages * 100.5 },
    );
    await until(
      () => stateOf(q, job.id!),
      (s) => s === 'completed',
      'the job',
    );
    expect(leases).toEqual([{ vramMiB: 704, label: `stage=scan_queue___${seq}` }]);
  });

  it('a paused queue: the worker takes nothing and does not spin on lease after lease; it runs the job after resume', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 1024 } });
    const q = queue();
    await q.pause();
    const job = await q.add('scan', {});
    let grants = 0;
    a.on('acquired', () => grants++);
    worker(a, q, async () => 'ok', { idlePollMs: 50 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await stateOf(q, job.id!)).not.toBe('completed');
    // One look per idlePollMs (about 6 in 300 ms), not one per Redis round trip.
    expect(grants).toBeLessThan(20);
    await q.resume();
    await until(
      () => stateOf(q, job.id!),
      (st) => st === 'completed',
      'the job after resume',
    );
  });

  it('refuses a queue whose task the arbiter does not have', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 1024 } });
    expect(() => new GpuWorker(a, 'ocr', async () => 1, { connection: connection() })).toThrow(expect.objectContaining({ code: 'E_UNKNOWN_TASK' }));
    expect(() => new GpuWorker(a, 'ocr', async () => 1, { connection: connection(), task: 'JOB', concurrency: 0 })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }),
    );
  });
});
