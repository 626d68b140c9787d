// Issue 13, host ledger points 1, 2, 4 and 10 (point 3, corrupt ledgers: host-corrupt.test.ts).
// Real child processes; point 2 runs a second user (uid 65534, "nobody") through setpriv(1) where
// this process is root, as CI is.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HostLedger } from '../src/backends/host/ledger';
import { hostNamespacePath, inspectHostNamespace } from '../src/backends/host/namespaces';
import { isGpuArbiterError } from '../src/errors';
import { FIXTURES, HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

const SLOT_HOLDER = path.join(FIXTURES, 'slot-holder.cjs');
const NOBODY = 65534;

interface Holder {
  child: ChildProcessWithoutNullStreams;
  /** The child's one line: "open" or "<code> <message>". */
  line: Promise<string>;
}

const holders: Holder[] = [];
const children: HostChild[] = [];

/** Starts a slot-holder: `as` runs it as another uid (setpriv), `umask` sets its umask. */
function holdSlot(ns: string, options: object = {}, run: { as?: number; umask?: string } = {}): Holder {
  const args = ['--max-old-space-size=24', SLOT_HOLDER, ns, JSON.stringify(options)];
  const [cmd, argv] =
    run.as === undefined ? [process.execPath, args] : ['setpriv', [`--reuid=${run.as}`, `--regid=${run.as}`, '--clear-groups', process.execPath, ...args]];
  const child = spawn(cmd, argv, { env: { ...process.env, UMASK: run.umask ?? '' }, stdio: ['pipe', 'pipe', 'inherit'] });
  const line = new Promise<string>((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.on('exit', (code, signal) => resolve(out || `exited ${code ?? signal} before a line`));
  });
  const h = { child, line };
  holders.push(h);
  return h;
}

async function letGo(h: Holder): Promise<void> {
  if (h.child.exitCode !== null || h.child.signalCode !== null) return;
  const exited = new Promise((r) => h.child.once('exit', r));
  h.child.stdin.end();
  await exited;
}

/** The error `fn` throws (a test fails if it returns). */
function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected an error');
}

afterEach(async () => {
  await Promise.all(holders.splice(0).map(letGo));
  for (const c of children.splice(0)) {
    c.kill();
    await c.exited;
  }
});
afterAll(() => removeTestNamespaces());

const root = process.getuid?.() === 0;
let setpriv = false;
try {
  execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
  setpriv = true;
} catch {
  // util-linux's setpriv is missing: the second-user tests say so below.
}
const secondUser = root && setpriv;
const secondUserWhy = secondUser ? '' : ` [skipped: ${!root ? 'running a second user needs root (CI runs as root)' : 'setpriv (util-linux) is not installed'}]`;

describe('point 1: registration failure is a typed error, never a hang', () => {
  it('the 257th process on a namespace gets E_LEDGER_FULL naming the limit; a freed slot is reused', async () => {
    const ns = uniqueNamespace('full');
    // 256 processes each hold one process slot (started 32 at a time: the machine has 2 cores).
    const slots: Holder[] = [];
    for (let batch = 0; batch < 256 / 32; batch++) {
      const started = Array.from({ length: 32 }, () => holdSlot(ns));
      slots.push(...started);
      expect(await Promise.all(started.map((h) => h.line))).toEqual(Array(32).fill('open'));
    }
    expect(inspectHostNamespace(ns).processes).toHaveLength(256);
    // The 257th, in a process of its own (a hang would freeze that process's event loop).
    const extra = await holdSlot(ns).line;
    expect(extra).toMatch(/^E_LEDGER_FULL .*256 processes/);
    // This process too: a typed error, and it can open it once a slot is free.
    const err = errorOf(() => HostLedger.openSync({ namespace: ns, create: false }));
    expect(isGpuArbiterError(err) && err.code).toBe('E_LEDGER_FULL');
    await letGo(slots[0]!);
    const ledger = HostLedger.openSync({ namespace: ns, create: false });
    expect(ledger.tryAcquire('gpu')).not.toBeNull();
    ledger.closeSync();
  }, 120_000);
});

describe('point 2: trust model (owner check, mode 0600, group sharing, no tokens to readers)', () => {
  it('a new ledger is mode 0600 whatever the umask', async () => {
    const ns = uniqueNamespace('mode');
    expect(await holdSlot(ns, {}, { umask: '000' }).line).toBe('open');
    expect(fs.statSync(hostNamespacePath(ns)).mode & 0o777).toBe(0o600);
  });

  it('readers see holders without their tokens', async () => {
    const ns = uniqueNamespace('tokens');
    const ledger = HostLedger.openSync({ namespace: ns, resources: { gpu: 1 } });
    const g = ledger.tryAcquire('gpu', { label: 'job' })!;
    const seen = JSON.stringify(inspectHostNamespace(ns));
    expect(seen).toContain('"label":"job"');
    for (const part of g.token.split('.').filter((p) => p.length > 3)) expect(seen).not.toContain(part);
    g.releaseSync();
    ledger.closeSync();
  });

  it.skipIf(!secondUser)(`a ledger another user created first is refused unless trusted (uid ${NOBODY})${secondUserWhy}`, async () => {
    const ns = uniqueNamespace('squat');
    // The squatter, at umask 000: its ledger is still 0600, so other users cannot even read it.
    expect(await holdSlot(ns, {}, { as: NOBODY, umask: '000' }).line).toBe('open');
    const st = fs.statSync(hostNamespacePath(ns));
    expect([st.uid, st.mode & 0o777]).toEqual([NOBODY, 0o600]);
    const err = errorOf(() => HostLedger.openSync({ namespace: ns, create: false }));
    expect(err.code).toBe('E_LEDGER_UNTRUSTED');
    expect(err.message).toContain(`belongs to uid ${NOBODY}`);
    expect(err.message).toContain(`trustOwner: ${NOBODY}`);
    // Trusted by name: opened, and shared with the squatter's process as one ledger.
    const ledger = HostLedger.openSync({ namespace: ns, create: false, trustOwner: NOBODY });
    expect(inspectHostNamespace(ns, { trustOwner: NOBODY }).processes).toHaveLength(2);
    ledger.closeSync();
    // Open to every user: refused even when its owner is trusted.
    fs.chmodSync(hostNamespacePath(ns), 0o666);
    expect(errorOf(() => HostLedger.openSync({ namespace: ns, create: false, trustOwner: NOBODY })).message).toMatch(/open to every user/);
  });

  it.skipIf(!secondUser)(`another user cannot open a 0600 ledger; with group, the group's users can${secondUserWhy}`, async () => {
    const own = uniqueNamespace('private');
    const ledger = HostLedger.openSync({ namespace: own, resources: { gpu: 1 } });
    expect(await holdSlot(own, {}, { as: NOBODY }).line).toMatch(/^E_BACKEND_UNAVAILABLE cannot open .* as uid 65534/);
    ledger.closeSync();
    const shared = uniqueNamespace('group');
    const groupLedger = HostLedger.openSync({ namespace: shared, resources: { gpu: 1 }, group: NOBODY });
    const st = fs.statSync(hostNamespacePath(shared));
    expect([st.gid, st.mode & 0o777]).toEqual([NOBODY, 0o660]);
    expect(await holdSlot(shared, {}, { as: NOBODY }).line).toBe('open'); // owner root is trusted
    groupLedger.closeSync();
  });

  it('bad trust options are refused naming the field', () => {
    const ns = uniqueNamespace('opts');
    expect(() => HostLedger.openSync({ namespace: ns, mode: 0o644 as 0o600 })).toThrow(/options\.mode/);
    expect(() => HostLedger.openSync({ namespace: ns, group: 'no such group!' })).toThrow(/options\.group/);
    expect(() => HostLedger.openSync({ namespace: ns, trustOwner: [-1] })).toThrow(/options\.trustOwner\[0\]/);
    expect(fs.existsSync(hostNamespacePath(ns))).toBe(false);
  });
});

describe("point 4: a release by another process's token ends the hold as a revoke does", () => {
  it('the holder is told at once (lost, reason revoked) and the next waiter is granted', async () => {
    const ns = uniqueNamespace('foreign');
    const [holder, waiter] = [new HostChild(), new HostChild()];
    children.push(holder, waiter);
    await Promise.all([holder.open(ns, { gpu: 1 }), waiter.open(ns, { gpu: 1 })]);
    const held = await holder.send({ cmd: 'acquire', resource: 'gpu', key: 'h' });
    const queued = waiter.send({ cmd: 'acquire', resource: 'gpu', key: 'w' });
    await waitUntil(() => inspectHostNamespace(ns).waiters.length === 1, 5000, 'the waiter to queue');
    const ledger = HostLedger.openSync({ namespace: ns, create: false });
    ledger.release(held.token!);
    expect(await queued).toMatchObject({ ok: true });
    await waitUntil(() => holder.events.length > 0, 2000, "the holder's lost event");
    expect(holder.events).toEqual([{ event: 'lost', key: 'h', code: 'E_LEASE_LOST', reason: 'revoked' }]);
    // A release by a token that holds nothing is refused and counted, and tells nobody anything.
    expect(() => ledger.release(held.token!)).toThrow(expect.objectContaining({ code: 'E_NOT_OWNER' }));
    expect(waiter.events).toEqual([]);
    ledger.closeSync();
  });
});

describe('point 10: a stopped holder (SIGSTOP) is revoked by the other processes past revokeAfterMs', () => {
  it('a hold with revokeAfterMs ends while its process is stopped; it hears (expired) once continued', async () => {
    const ns = uniqueNamespace('stopped');
    const holder = new HostChild();
    children.push(holder);
    await holder.open(ns, { gpu: 1 });
    expect(await holder.send({ cmd: 'acquire', resource: 'gpu', key: 'h', options: { revokeAfterMs: 300 } })).toMatchObject({ ok: true });
    holder.proc.kill('SIGSTOP');
    const ledger = HostLedger.openSync({ namespace: ns, create: false });
    try {
      // Queued behind the stopped holder: this process's waiter thread sweeps every 10 ms.
      const g = await ledger.acquire('gpu', { timeoutMs: 10_000 });
      expect(inspectHostNamespace(ns).holders.map((h) => h.pid)).toEqual([process.pid]);
      holder.proc.kill('SIGCONT');
      await waitUntil(() => holder.events.length > 0, 5000, "the holder's lost event");
      expect(holder.events).toEqual([{ event: 'lost', key: 'h', code: 'E_LEASE_LOST', reason: 'expired' }]);
      g.releaseSync();
    } finally {
      holder.proc.kill('SIGCONT');
      ledger.closeSync();
    }
  });
});
