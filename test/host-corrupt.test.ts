// Issue 13, point 3: a corrupt ledger whose header is valid never crashes or hangs a user. Every
// index and scan bound read from shared memory is checked; a ledger that breaks one gives a
// typed error (E_BACKEND_UNAVAILABLE, details.reason 'corrupt') that says how to remove it, and
// `gpu-arbiter doctor` says the same. Corrupt ledgers are used in child processes
// (test/fixtures/host/corrupt-child.cjs), so a crash or a hang is seen as one instead of taking
// the test runner down; the fuzz writes seeded random damage into each table of a copy of a
// real ledger.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostLedgerChecks } from '../src/doctor/remote';
import { HostLedger } from '../src/backends/host/ledger';
import { hostNamespacePath } from '../src/backends/host/namespaces';
import { addon } from '../src/native/addon';
import { FIXTURES, HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

const PREFIX = `test-fuzz-${process.pid}`;
const TEMPLATE = path.join(os.tmpdir(), `gpu-arbiter-fuzz-template-${process.pid}.bin`);
afterAll(() => {
  removeTestNamespaces();
  // KEEP_FUZZ_TEMPLATE=1 keeps it, to replay one seed: corrupt-child.cjs fuzz TEMPLATE PREFIX SEED 1.
  if (!process.env.KEEP_FUZZ_TEMPLATE) fs.rmSync(TEMPLATE, { force: true });
  for (const f of fs.readdirSync('/dev/shm')) if (f.startsWith(`gpu-arbiter-${PREFIX}`)) fs.rmSync(`/dev/shm/${f}`, { force: true });
});

/** The fuzz: copies per child process, child processes at once (the machine has 2 cores). */
const COPIES_PER_CHILD = 1500;
const CHILDREN = 2;
/** A child that reports nothing for this long hangs (the ledger lock gives up after 5 s). */
const HANG_MS = 8000;

interface Report {
  i: number;
  damage?: string;
  ns?: string;
  outcome: string;
  status: string;
}

interface ChildResult {
  exit: { code: number | null; signal: NodeJS.Signals | null };
  hung: boolean;
  reports: Report[];
  /** The copy being used when the child died or hung. */
  last: { i: number; damage?: string } | undefined;
}

function runChild(args: string[]): Promise<ChildResult> {
  const child = fork(path.join(FIXTURES, 'corrupt-child.cjs'), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--max-old-space-size=128'],
  });
  const reports: Report[] = [];
  let last: ChildResult['last'];
  let hung = false;
  let timer = setTimeout(onHang, HANG_MS);
  function onHang(): void {
    hung = true;
    child.kill('SIGKILL');
  }
  child.on('message', (m: Report & { start?: boolean }) => {
    clearTimeout(timer);
    timer = setTimeout(onHang, HANG_MS);
    if (m.start) last = { i: m.i, damage: m.damage ?? m.ns };
    else reports.push(m);
  });
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ exit: { code, signal }, hung, reports, last });
    }),
  );
}

/** Fails naming the copy when a child crashed, hung or saw an untyped error. */
function expectHealthy(r: ChildResult): void {
  const where = r.last ? `copy ${r.last.i} (${r.last.damage})` : 'start';
  expect(r.hung, `hung at ${where}`).toBe(false);
  expect(r.exit, `died at ${where}`).toEqual({ code: 0, signal: null });
  const untyped = r.reports.filter((x) => x.outcome.startsWith('untyped') || x.status.startsWith('untyped'));
  expect(untyped, 'untyped errors').toEqual([]);
}

/** A real ledger with live and dead processes, holders, waiters and a hold with a deadline; its bytes. */
async function realLedgerBytes(): Promise<Buffer> {
  const ns = uniqueNamespace('fuzz-template');
  const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1, vram: 100, lock: 1 } });
  const grants = [ledger.tryAcquire('gpu'), ledger.tryAcquire('vram', { units: 40, revokeAfterMs: 3_600_000 }), ledger.tryAcquire('lock')];
  const live = new HostChild();
  await live.open(ns, { gpu: 1, vram: 100, lock: 1 });
  await live.send({ cmd: 'acquire', resource: 'vram', options: { units: 10 } });
  const dead = new HostChild();
  await dead.open(ns, { gpu: 1, vram: 100, lock: 1 });
  await dead.send({ cmd: 'acquire', resource: 'vram', options: { units: 20, label: 'dead holder' } });
  void dead.send({ cmd: 'acquire', resource: 'gpu', options: { priority: 5, label: 'dead waiter' } });
  void dead.send({ cmd: 'acquire', resource: 'vram', options: { units: 50 } });
  const ours = ledger.acquire('lock', { timeoutMs: 20_000, priority: -3, label: 'our waiter' });
  ours.catch(() => {});
  // An all-or-nothing request: one waiter per resource, linked by request (native/host/ledger_gang.cc).
  const set = ledger.acquireSet(['gpu', 'lock'], { timeoutMs: 20_000, label: 'our set' });
  set.catch(() => {});
  await waitUntil(() => ledger.inspect().waiters.length === 5, 5000, 'five waiters');
  dead.kill('SIGKILL'); // its holds, waiters and alive mutex stay as it left them (owner-died)
  await dead.exited;
  // Copy while nobody holds the lock (our waiter thread polls it every 10 ms).
  const { lock } = addon().host.layout;
  let bytes = fs.readFileSync(hostNamespacePath(ns));
  for (let n = 0; bytes.readUInt32LE(lock) !== 0 && n < 20; n++) bytes = fs.readFileSync(hostNamespacePath(ns));
  expect(bytes.readUInt32LE(lock)).toBe(0);
  live.kill();
  for (const g of grants) g?.releaseSync();
  await ledger.close();
  return bytes;
}

function writeCorrupt(bytes: Buffer, tag: string, damage: (b: Buffer) => void): string {
  const ns = uniqueNamespace(tag);
  const b = Buffer.from(bytes);
  damage(b);
  fs.writeFileSync(hostNamespacePath(ns), b, { mode: 0o600 });
  return ns;
}

describe('host ledger: corrupt ledgers', () => {
  let template: Buffer;

  it('the damage the issue found gives typed errors: scan bounds 0xFFFFFFFF, bad indices, a random table', async () => {
    template = await realLedgerBytes();
    const { tables, holdersHwm, waitersHwm } = addon().host.layout;
    const { waiters: waiterBytes } = addon().host.layout.slotBytes;
    let firstWaiter = tables.waiters[0];
    while (template.readUInt32LE(firstWaiter) !== 2) firstWaiter += waiterBytes; // kWaiting
    const rnd = (b: Buffer, [offset, bytes]: [number, number]) => {
      for (let i = 0; i < bytes; i++) b[offset + i] = Math.floor(Math.random() * 256);
    };
    const cases = {
      'holders-hwm': writeCorrupt(template, 'hwm-h', (b) => b.writeUInt32LE(0xffffffff, holdersHwm)),
      'waiters-hwm': writeCorrupt(template, 'hwm-w', (b) => b.writeUInt32LE(0xffffffff, waitersHwm)),
      // holder slot 0 is ours (gpu): its resource (u32 at 4) and process (at 8); the first
      // queued waiter's resource; process slot 0 (ours): its grant list head (at 24) past the
      // waiter table
      'holder-resource': writeCorrupt(template, 'bad-res', (b) => b.writeUInt32LE(0xdead, tables.holders[0] + 4)),
      'holder-proc': writeCorrupt(template, 'bad-proc', (b) => b.writeUInt32LE(0xffffffff, tables.holders[0] + 8)),
      'waiter-resource': writeCorrupt(template, 'bad-wres', (b) => b.writeUInt32LE(64, firstWaiter + 4)),
      'grant-list': writeCorrupt(template, 'bad-list', (b) => b.writeUInt32LE(4096, tables.procs[0] + 24)),
      'random-procs': writeCorrupt(template, 'rnd-procs', (b) => rnd(b, tables.procs)),
      'random-holders': writeCorrupt(template, 'rnd-holders', (b) => rnd(b, tables.holders)),
      'random-waiters': writeCorrupt(template, 'rnd-waiters', (b) => rnd(b, tables.waiters)),
      'random-resources': writeCorrupt(template, 'rnd-resources', (b) => rnd(b, tables.resources)),
    };
    const r = await runChild(['use', ...Object.values(cases)]);
    expectHealthy(r);
    const byCase = Object.fromEntries(Object.keys(cases).map((name, i) => [name, r.reports[i]?.outcome]));
    console.log('corrupt ledgers, outcome per case:', byCase);
    for (const name of Object.keys(cases)) expect(byCase[name], name).toBe('E_BACKEND_UNAVAILABLE/corrupt');
    // The error says how to remove it.
    const ns = cases['holders-hwm'];
    const err = (() => {
      try {
        HostLedger.openSync({ namespace: ns, create: false });
      } catch (e) {
        return e as Error & { code: string; details: { reason?: string } };
      }
      throw new Error('opened a corrupt ledger');
    })();
    expect(err.code).toBe('E_BACKEND_UNAVAILABLE');
    expect(err.details.reason).toBe('corrupt');
    expect(err.message).toContain(`rm /dev/shm/gpu-arbiter-${ns}`);
    expect(err.message).toContain(`removeHostNamespace('${ns}')`);
  });

  it(`fuzz: ${COPIES_PER_CHILD * CHILDREN} copies of a real ledger with random damage in its tables: every user ends normally, with success or a typed error`, async () => {
    template ??= await realLedgerBytes();
    fs.writeFileSync(TEMPLATE, template);
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: CHILDREN }, (_, k) => runChild(['fuzz', TEMPLATE, PREFIX, String(1 + k * COPIES_PER_CHILD), String(COPIES_PER_CHILD)])),
    );
    const tally = new Map<string, number>();
    for (const r of results) for (const x of r.reports) tally.set(x.outcome, (tally.get(x.outcome) ?? 0) + 1);
    console.log(`fuzz: ${results.reduce((n, r) => n + r.reports.length, 0)} copies in ${Date.now() - started} ms:`, Object.fromEntries(tally));
    for (const r of results) expectHealthy(r);
    expect(results.reduce((n, r) => n + r.reports.length, 0)).toBe(COPIES_PER_CHILD * CHILDREN);
    // The damage was seen (and some copies had damage that did not matter: still usable).
    expect(tally.get('E_BACKEND_UNAVAILABLE/corrupt') ?? 0).toBeGreaterThan(COPIES_PER_CHILD / 4);
    expect(tally.get('ok') ?? 0).toBeGreaterThan(0);
  }, 60_000);

  it('doctor says how to remove a corrupt ledger', async () => {
    template ??= await realLedgerBytes();
    const { holdersHwm } = addon().host.layout;
    const ns = writeCorrupt(template, 'doctor', (b) => b.writeUInt32LE(0xffffffff, holdersHwm));
    const [check] = await hostLedgerChecks([ns]);
    expect(check).toMatchObject({ id: `host-ledger.${ns}`, verdict: 'FAIL' });
    expect(check!.detail).toContain('corrupt');
    expect(check!.fix).toContain(`rm /dev/shm/gpu-arbiter-${ns}`);
    expect(check!.fix).toContain(`removeHostNamespace('${ns}')`);
  });
});
