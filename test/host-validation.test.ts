// Bad input to every public host-ledger function is refused with E_INVALID_ARGUMENT and a message
// naming the field; an incompatible ledger file fails open() clearly; off Linux, open() says so.
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { isGpuArbiterError } from '../src/errors';
import { HostLedger } from '../src/backends/host/ledger';
import { hostNamespacePath, inspectHostNamespace, removeHostNamespace } from '../src/backends/host/namespaces';
import { injectHolder, parkInLock } from '../src/backends/host/test-hooks';
import { addon } from '../src/native/addon';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';

afterAll(removeTestNamespaces);

function codeAndMessage(fn: () => unknown): [string, string] {
  try {
    fn();
    return ['ok', ''];
  } catch (err) {
    return isGpuArbiterError(err) ? [err.code, err.message] : ['not a GpuArbiterError', String(err)];
  }
}

describe('host ledger input validation', () => {
  it('open() refuses bad options', () => {
    const bad: Array<[unknown, string]> = [
      [undefined, 'options'],
      [null, 'options'],
      ['prod', 'options'],
      [{}, 'options.namespace'],
      [{ namespace: '' }, 'options.namespace'],
      [{ namespace: '../etc' }, 'options.namespace'],
      [{ namespace: 'a/b' }, 'options.namespace'],
      [{ namespace: 'x'.repeat(101) }, 'options.namespace'],
      [{ namespace: 'ok', resources: [] }, 'options.resources'],
      [{ namespace: 'ok', resources: { gpu: 0 } }, 'options.resources["gpu"]'],
      [{ namespace: 'ok', resources: { gpu: 1.5 } }, 'options.resources["gpu"]'],
      [{ namespace: 'ok', resources: { gpu: '1' } }, 'options.resources["gpu"]'],
      [{ namespace: 'ok', resources: { 'has space': 1 } }, 'options.resources key'],
      [{ namespace: 'ok', resources: { ['x'.repeat(64)]: 1 } }, 'options.resources key'],
      [{ namespace: 'ok', create: 'yes' }, 'options.create'],
      [{ namespace: 'ok', namespaces: 'typo' }, 'options.namespaces'],
    ];
    for (const [options, field] of bad) {
      const [code, message] = codeAndMessage(() => HostLedger.openSync(options as never));
      expect(code, JSON.stringify(options)).toBe('E_INVALID_ARGUMENT');
      expect(message).toContain(field);
    }
  });

  it('open() refuses a capacity different from the one the namespace has', async () => {
    const ns = uniqueNamespace('capacity-mismatch');
    const a = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    await expect(HostLedger.open({ namespace: ns, resources: { gpu: 2 } })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await a.close();
  });

  it('acquire(), tryAcquire() and release() refuse bad arguments', async () => {
    const ns = uniqueNamespace('args');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 4 } });
    const badAcquire: Array<[unknown, unknown, string]> = [
      [undefined, undefined, 'resource'],
      [42, undefined, 'resource'],
      ['nope', undefined, 'resource'],
      ['gpu', 'fast', 'options'],
      ['gpu', { units: 0 }, 'options.units'],
      ['gpu', { units: 1.5 }, 'options.units'],
      ['gpu', { units: '2' }, 'options.units'],
      ['gpu', { priority: 'high' }, 'options.priority'],
      ['gpu', { priority: 2e6 }, 'options.priority'],
      ['gpu', { timeoutMs: -1 }, 'options.timeoutMs'],
      ['gpu', { timeoutMs: Infinity }, 'options.timeoutMs'],
      ['gpu', { signal: {} }, 'options.signal'],
      ['gpu', { unit: 1 }, 'options.unit'],
    ];
    for (const [resource, options, field] of badAcquire) {
      const err = await ledger.acquire(resource as string, options as never).then(
        () => null,
        (e) => e,
      );
      expect(err?.code, `${String(resource)} ${JSON.stringify(options)}`).toBe('E_INVALID_ARGUMENT');
      expect(err?.message).toContain(field);
      if (field !== 'options.signal' && field !== 'options.timeoutMs') {
        const [code] = codeAndMessage(() => ledger.tryAcquire(resource as string, options as never));
        expect(code).toBe('E_INVALID_ARGUMENT');
      }
    }
    expect(codeAndMessage(() => ledger.tryAcquire('gpu', { timeoutMs: 5 } as never))[0]).toBe('E_INVALID_ARGUMENT');
    for (const token of [undefined, 7, '', 'h0', 'x0.0123456789abcdef', 'h0.0123456789ABCDEFG']) {
      const [code, message] = codeAndMessage(() => ledger.release(token as string));
      expect(code).toBe('E_INVALID_ARGUMENT');
      expect(message).toContain('token');
    }
    expect(ledger.ownershipViolations).toBe(0); // malformed input is not an ownership violation
    expect(ledger.inspect().waiters).toEqual([]);
    await ledger.close();
  });

  it('namespace helpers refuse bad names', () => {
    for (const bad of [undefined, '', '../x', 'a b', 5]) {
      expect(codeAndMessage(() => removeHostNamespace(bad as string))[0]).toBe('E_INVALID_ARGUMENT');
      expect(codeAndMessage(() => hostNamespacePath(bad as string))[0]).toBe('E_INVALID_ARGUMENT');
      expect(codeAndMessage(() => inspectHostNamespace(bad as string))[0]).toBe('E_INVALID_ARGUMENT');
    }
  });

  it('refuses the test hooks unless GPU_ARBITER_TEST_HOOKS=1', async () => {
    const ns = uniqueNamespace('hooks');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const saved = process.env.GPU_ARBITER_TEST_HOOKS;
    delete process.env.GPU_ARBITER_TEST_HOOKS;
    try {
      expect(codeAndMessage(() => injectHolder(ledger, 'gpu', 1, 1, 1))[0]).toBe('E_INVALID_ARGUMENT');
      expect(codeAndMessage(() => parkInLock(ledger))[0]).toBe('E_INVALID_ARGUMENT');
    } finally {
      if (saved !== undefined) process.env.GPU_ARBITER_TEST_HOOKS = saved;
    }
    expect(ledger.inspect().holders).toEqual([]);
    await ledger.close();
  });

  it('calls after close() fail with E_CLOSED', async () => {
    const ns = uniqueNamespace('closed');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    await ledger.close();
    await expect(ledger.acquire('gpu')).rejects.toMatchObject({ code: 'E_CLOSED' });
    expect(codeAndMessage(() => ledger.tryAcquire('gpu'))[0]).toBe('E_CLOSED');
    expect(codeAndMessage(() => ledger.inspect())[0]).toBe('E_CLOSED');
    expect(codeAndMessage(() => ledger.release('h0.0123456789abcdef'))[0]).toBe('E_CLOSED');
  });
});

describe('host ledger file compatibility and platform', () => {
  it('refuses a file that is not a ledger, or a ledger of another layout version', () => {
    const ns = uniqueNamespace('bad-magic');
    fs.writeFileSync(hostNamespacePath(ns), Buffer.alloc(4096, 7));
    const [code, message] = codeAndMessage(() => HostLedger.openSync({ namespace: ns }));
    expect(code).toBe('E_BACKEND_UNAVAILABLE');
    expect(message).toContain('not a gpu-arbiter host ledger');

    const ns2 = uniqueNamespace('bad-version');
    const buf = Buffer.alloc(addon().host.ledgerBytes);
    buf.writeBigUInt64LE(0x474c425241555047n, 0); // the magic
    buf.writeUInt32LE(addon().host.layoutVersion + 1, 8);
    fs.writeFileSync(hostNamespacePath(ns2), buf);
    const [code2, message2] = codeAndMessage(() => HostLedger.openSync({ namespace: ns2 }));
    expect(code2).toBe('E_BACKEND_UNAVAILABLE');
    expect(message2).toContain(`layout version ${addon().host.layoutVersion + 1}`);
    expect(message2).toContain(`this build of gpu-arbiter uses version ${addon().host.layoutVersion}`);
  });

  it('fails open() with E_UNSUPPORTED_PLATFORM off Linux', async () => {
    const real = Object.getOwnPropertyDescriptor(process, 'platform') as PropertyDescriptor;
    Object.defineProperty(process, 'platform', { value: 'darwin' });
    try {
      await expect(HostLedger.open({ namespace: 'never-created' })).rejects.toMatchObject({ code: 'E_UNSUPPORTED_PLATFORM' });
    } finally {
      Object.defineProperty(process, 'platform', real);
    }
  });
});
