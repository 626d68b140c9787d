// Issue 18, part 3: GpuWorker across real processes - a real redis-server, real BullMQ, two
// worker processes (test/fixtures/bullmq/worker-process.cjs, loading `gpu-arbiter/bullmq`)
// sharing one simulated GPU through the host ledger. Each job's processor logs its start (A) and
// end (R) inside its lease, so replaying the log shows the VRAM in use at every moment.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';
import { RedisServer } from './helpers/redis-server';

const fixture = path.join(__dirname, 'fixtures/bullmq/worker-process.cjs');
const CAPACITY = 8192;

let redis: RedisServer;
let dir: string;
const children: ChildProcess[] = [];
const queues: Queue[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  for (const q of queues.splice(0)) await q.close();
  removeTestNamespaces();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface QueueSpec {
  name: string;
  task: string;
  priority: number;
}

interface Setup {
  log: string;
  ns: string;
  start(extra?: Record<string, unknown>): Promise<ChildProcess>;
}

function setup(tag: string, specs: QueueSpec[], base: Record<string, unknown>): Setup {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpa-bullmq-'));
  const log = path.join(dir, 'log');
  fs.writeFileSync(log, '');
  const ns = uniqueNamespace(`bullmq-${tag}`);
  const config = { port: redis.port, ns, queues: specs, capacityMiB: CAPACITY, ...base };
  return {
    log,
    ns,
    start: async (extra = {}) => {
      const child = spawn(process.execPath, [fixture], {
        env: { ...process.env, CONFIG: JSON.stringify({ ...config, ...extra }), LOG: log },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let err = '';
      child.stderr!.on('data', (d) => {
        err += d;
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d) => {
          if (String(d).includes('ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`worker process exited ${code}: ${err}`)));
      });
      return child;
    },
  };
}

function queue(name: string): Queue {
  const q = new Queue(name, { connection: { host: '127.0.0.1', port: redis.port } });
  queues.push(q);
  return q;
}

interface Line {
  kind: string;
  queue: string;
  job: string;
  pid: number;
  mib: number;
}

function readLog(file: string): Line[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [kind, queue, job, pid, mib] = l.split(' ') as [string, string, string, string, string | undefined];
      // "K <pid>": the test is about to SIGKILL that process; its holds end with it.
      if (kind === 'K') return { kind, queue: '', job: '', pid: Number(queue), mib: 0 };
      return { kind, queue, job, pid: Number(pid), mib: Number(mib) };
    });
}

/** The most VRAM held at once by running jobs, replaying the log in order. */
function peakMiB(lines: Line[]): number {
  const open = new Map<string, Line>();
  let held = 0;
  let peak = 0;
  for (const l of lines) {
    const key = `${l.queue}/${l.job}/${l.pid}`;
    if (l.kind === 'A') {
      open.set(key, l);
      held += l.mib;
      peak = Math.max(peak, held);
    } else if (l.kind === 'R' && open.delete(key)) held -= l.mib;
    else if (l.kind === 'K') {
      for (const [k, o] of open) {
        if (o.pid !== l.pid) continue;
        open.delete(k);
        held -= o.mib;
      }
    }
  }
  return peak;
}

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A small deterministic generator, so a failing run can be replayed. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('GpuWorker across processes (host ledger, real Redis and BullMQ)', () => {
  it('3 queues of different priorities, 2 worker processes: every job runs once, the GPU is never over-committed, higher priorities go first', async () => {
    const specs = [
      { name: 'hi', task: 'HI', priority: 90 },
      { name: 'mid', task: 'MID', priority: 50 },
      { name: 'lo', task: 'LO', priority: 10 },
    ];
    const s = setup('prio', specs, { concurrency: 2, lockDuration: 30_000, stalledInterval: 30_000 });
    const rnd = lcg(18);
    const PER_QUEUE = 8;
    for (const spec of specs) {
      await queue(spec.name).addBulk(
        Array.from({ length: PER_QUEUE }, (_, i) => ({
          name: 'job',
          data: { mib: 2000 + Math.floor(rnd() * 3000), ms: 40 + Math.floor(rnd() * 60) },
          opts: { jobId: `${spec.name}-${i}` },
        })),
      );
    }
    const [a, b] = [await s.start(), await s.start()];
    const total = PER_QUEUE * specs.length;
    await until(async () => {
      let done = 0;
      for (const q of queues) done += (await q.getJobCounts('completed')).completed;
      return done === total;
    }, 'every job to complete');
    for (const q of queues)
      expect(await q.getJobCounts('failed', 'active', 'wait', 'delayed', 'prioritized')).toEqual({ failed: 0, active: 0, wait: 0, delayed: 0, prioritized: 0 });

    const lines = readLog(s.log);
    const starts = lines.filter((l) => l.kind === 'A');
    const ends = lines.filter((l) => l.kind === 'R');
    // Each job started and ended exactly once.
    expect(new Set(starts.map((l) => l.job)).size).toBe(total);
    expect([starts.length, ends.length]).toEqual([total, total]);
    // Both processes took jobs; the sum of running jobs' VRAM never passed the GPU's.
    expect(new Set(starts.map((l) => l.pid))).toEqual(new Set([a.pid, b.pid]));
    const peak = peakMiB(lines);
    expect(peak).toBeLessThanOrEqual(CAPACITY);
    expect(peak).toBeGreaterThan(5000); // jobs did run side by side
    // Priorities: on average a HI job started before a MID one, a MID one before a LO one.
    const meanRank = (q: string): number => {
      const ranks = starts.flatMap((l, i) => (l.queue === q ? [i] : []));
      return ranks.reduce((x, y) => x + y, 0) / ranks.length;
    };
    expect(meanRank('hi')).toBeLessThan(meanRank('mid'));
    expect(meanRank('mid')).toBeLessThan(meanRank('lo'));
  }, 60_000);

  it('a worker process SIGKILLed mid-job: BullMQ’s stalled check and the ledger’s reclaim bring the job back; no job is lost or completed twice', async () => {
    const specs = [{ name: 'ocr', task: 'OCR', priority: 50 }];
    // 5000 MiB jobs on 8192 MiB: one at a time, so the survivor can run nothing until the
    // ledger has reclaimed the dead worker's lease.
    const s = setup('kill', specs, { concurrency: 1, lockDuration: 1000, stalledInterval: 250 });
    const q = queue('ocr');
    const N = 6;
    await q.addBulk(Array.from({ length: N }, (_, i) => ({ name: 'page', data: { mib: 5000, ms: 300 }, opts: { jobId: `page-${i}` } })));
    const workers = [await s.start(), await s.start()];
    /** Jobs whose processor started and has not ended, with their process. */
    const running = (): Line[] => {
      const lines = readLog(s.log);
      return lines.filter((l) => l.kind === 'A' && !lines.some((r) => r.kind === 'R' && r.job === l.job && r.pid === l.pid));
    };
    await until(() => running().length > 0, 'a job to start');
    // Read, mark and kill in one synchronous step: the job running now is the one killed mid-run.
    const [{ job: killedJob, pid }] = running() as [Line];
    const victim = workers.find((w) => w.pid === pid)!;
    const survivor = workers.find((w) => w.pid !== pid)!;
    fs.appendFileSync(s.log, `K ${victim.pid}\n`);
    victim.kill('SIGKILL');
    await until(async () => (await q.getJobCounts('completed')).completed === N, 'every job to complete', 30_000);
    expect(await q.getJobCounts('failed', 'active', 'wait', 'delayed')).toEqual({ failed: 0, active: 0, wait: 0, delayed: 0 });

    const lines = readLog(s.log);
    const ends = lines.filter((l) => l.kind === 'R');
    // Every job ended exactly once; the one killed mid-run ran again, in the survivor, after the kill.
    expect(ends.map((l) => l.job).sort()).toEqual(Array.from({ length: N }, (_, i) => `page-${i}`).sort());
    const killedRuns = lines.filter((l) => l.kind === 'A' && l.job === killedJob);
    expect(killedRuns.map((l) => l.pid)).toEqual([victim.pid, survivor.pid]);
    expect(lines.findIndex((l) => l.kind === 'K')).toBeLessThan(lines.indexOf(killedRuns[1]!));
    const job = (await q.getJob(killedJob))!;
    expect(job.returnvalue).toEqual({ pid: survivor.pid });
    expect(peakMiB(lines)).toBeLessThanOrEqual(CAPACITY);
  }, 60_000);
});
