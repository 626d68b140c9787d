// Issue 18, part 2: `gpu.acquire` and `gpu.lease` spans (SDK tracer provider, in-memory exporter),
// children of the caller's active span, and the W3C traceparent a lease hands a child process.
import { context, ROOT_CONTEXT, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { leaseTraceparent } from '../src/otel/lease-context';
import { formatTraceparent, parseTraceparent } from '../src/otel/traceparent';
import { closeAfterEach } from './helpers/close-after-each';
import { fakeGpus, GiB } from './helpers/fake-monitor';

const arbiters = closeAfterEach<GpuArbiter>();
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('test');
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  // The caller's active span travels through awaits only with a context manager (an SDK sets one).
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});

async function make(extra: { traceparent?: string } = {}): Promise<GpuArbiter> {
  exporter.reset();
  const a = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB, uuid: 'GPU-1234' }),
    maxFraction: 1,
    policies: {
      ASR: { priority: 90, vramMiB: 10 * GiB },
      BIG: { priority: 10, vramMiB: 16 * GiB, busyPolicy: 'REJECT' },
      REPAIR: { priority: 20, vramMiB: 12 * GiB, busyPolicy: 'SKIP', maxWaitMs: 0 },
      SHORT: { priority: 50, vramMiB: 1 * GiB, holdMaxMs: 20, revokeOnHoldMax: true, revokeGraceMs: 0 },
    },
    otel: { tracer, meter: false, ...extra },
  });
  arbiters.push(a);
  return a;
}

/** Runs `fn` with a fresh span `request` active; returns the span (ended) and fn's result. */
async function inRequest<T>(fn: () => Promise<T>): Promise<{ request: Span; value: T }> {
  const request = tracer.startSpan('request');
  const value = await context.with(trace.setSpan(context.active(), request), fn);
  request.end();
  return { request, value };
}

function spans(name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.name === name);
}

function parentOf(s: ReadableSpan): string | undefined {
  return s.parentSpanContext?.spanId;
}

describe('OpenTelemetry spans', () => {
  it('gpu.acquire and gpu.lease are children of the caller’s span, with the request and the lease', async () => {
    const a = await make();
    const { request, value: lease } = await inRequest(async () => {
      const l = await a.acquire('ASR', { priority: 70, vramMiB: 3 * GiB, label: 'job-9' });
      // The lease span ends at the release, not before.
      expect(spans('gpu.lease')).toEqual([]);
      await l.release();
      return l;
    });
    const [acq] = spans('gpu.acquire');
    const [held] = spans('gpu.lease');
    expect(parentOf(acq!)).toBe(request.spanContext().spanId);
    expect(parentOf(held!)).toBe(request.spanContext().spanId);
    expect(acq!.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(acq!.attributes).toEqual({
      'gpu.task': 'ASR',
      'gpu.priority': 70,
      'gpu.vram.requested_mib': 3 * GiB,
      'gpu.device': 0,
      'gpu.device.uuid': 'GPU-1234',
      'gpu.lease.id': lease.id,
      'gpu.lease.fencing_token': lease.fencingToken,
      'gpu.waited_ms': lease.waitedMs,
      'gpu.outcome': 'acquired',
    });
    expect(held!.attributes).toMatchObject({
      'gpu.task': 'ASR',
      'gpu.lease.id': lease.id,
      'gpu.lease.label': 'job-9',
      'gpu.lease.fencing_token': lease.fencingToken,
      'gpu.lease.oom': false,
    });
    expect(held!.attributes['gpu.lease.held_ms']).toBeTypeOf('number');
    expect(held!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('a queued request’s gpu.acquire spans its wait; the policy’s priority and size when the call gives none', async () => {
    const a = await make();
    const first = await a.acquire('ASR');
    const second = a.acquire('ASR');
    await new Promise((r) => setTimeout(r, 30));
    expect(spans('gpu.acquire')).toHaveLength(1); // the waiter's span is still open
    await first.release();
    const lease = await second;
    await lease.release();
    const waited = spans('gpu.acquire')[1]!;
    expect(waited.attributes).toMatchObject({ 'gpu.priority': 90, 'gpu.vram.requested_mib': 10 * GiB, 'gpu.waited_ms': lease.waitedMs });
    expect(lease.waitedMs).toBeGreaterThan(0);
  });

  it('run(): the work runs inside gpu.lease; a skip ends gpu.acquire with outcome skipped and no lease span', async () => {
    const a = await make();
    const { request } = await inRequest(async () => {
      await a.run('ASR', async () => {
        const inner = tracer.startSpan('inference');
        inner.end();
      });
      const holder = await a.acquire('ASR');
      expect(await a.run('REPAIR', () => 1)).toMatchObject({ status: 'skipped' });
      await holder.release();
    });
    const [leaseSpan] = spans('gpu.lease');
    const [inference] = spans('inference');
    expect(parentOf(inference!)).toBe(leaseSpan!.spanContext().spanId);
    const repair = spans('gpu.acquire').find((s) => s.attributes['gpu.task'] === 'REPAIR')!;
    expect(repair.attributes).toMatchObject({ 'gpu.outcome': 'skipped', 'gpu.reason': 'E_TIMEOUT' });
    expect(parentOf(repair)).toBe(request.spanContext().spanId);
    expect(spans('gpu.lease').filter((s) => s.attributes['gpu.task'] === 'REPAIR')).toEqual([]);
  });

  it('run(): an error of the work is recorded on gpu.lease', async () => {
    const a = await make();
    await expect(
      a.run('ASR', () => {
        throw new Error('CUDA out of memory');
      }),
    ).rejects.toThrow('CUDA out of memory');
    const [leaseSpan] = spans('gpu.lease');
    expect(leaseSpan!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'CUDA out of memory' });
    expect(leaseSpan!.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('a refused request ends gpu.acquire with its outcome and an error status', async () => {
    const a = await make();
    const holder = await a.acquire('ASR');
    await expect(a.acquire('BIG')).rejects.toMatchObject({ code: 'E_BUSY' });
    await expect(a.acquire('ASR', { vramMiB: 17 * GiB })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    const ac = new AbortController();
    const aborted = a.acquire('ASR', { signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'E_ABORTED' });
    await holder.release();
    const byOutcome = Object.fromEntries(spans('gpu.acquire').map((s) => [s.attributes['gpu.outcome'], s]));
    expect(byOutcome.busy!.attributes['gpu.reason']).toBe('E_BUSY');
    expect(byOutcome.busy!.status.code).toBe(SpanStatusCode.ERROR);
    expect(byOutcome['does-not-fit']!.attributes).toMatchObject({ 'gpu.reason': 'E_DOES_NOT_FIT', 'gpu.vram.requested_mib': 17 * GiB });
    expect(byOutcome.aborted!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('a lost lease: gpu.lease carries the lost reason and ends at the release', async () => {
    const a = await make();
    const lease = await a.acquire('SHORT');
    await new Promise<void>((resolve) => lease.lost.addEventListener('abort', () => resolve(), { once: true }));
    expect(spans('gpu.lease')).toEqual([]);
    await lease.release();
    const [held] = spans('gpu.lease');
    expect(held!.attributes['gpu.lease.lost_reason']).toBe('revoked');
    expect(held!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'lease lost: revoked' });
    expect(held!.events.map((e) => e.name)).toEqual(['gpu.lease.lost']);
  });

  it('options.otel.traceparent is the parent where the caller has no active span; leaseTraceparent hands the lease span on', async () => {
    const remote = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const a = await make({ traceparent: remote });
    const lease = await context.with(ROOT_CONTEXT, () => a.acquire('ASR'));
    const tp = leaseTraceparent(lease);
    await lease.release();
    const [acq] = spans('gpu.acquire');
    const [held] = spans('gpu.lease');
    expect(acq!.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(parentOf(acq!)).toBe('b7ad6b7169203331');
    expect(tp).toBe(`00-0af7651916cd43dd8448eb211c80319c-${held!.spanContext().spanId}-01`);
    // An active span wins over the configured traceparent.
    const { request } = await inRequest(async () => (await a.acquire('ASR')).release());
    expect(parentOf(spans('gpu.acquire')[1]!)).toBe(request.spanContext().spanId);
  });

  it('closing the arbiter ends the spans of leases still held', async () => {
    const a = await make();
    await a.acquire('ASR');
    await a.close();
    const [held] = spans('gpu.lease');
    expect(held!.attributes['gpu.reason']).toBe('arbiter-closed');
  });

  it('without otel a lease has no traceparent', async () => {
    const a = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 16 * GiB }), policies: { ASR: { priority: 1, vramMiB: 1024 } } });
    arbiters.push(a);
    const lease = await a.acquire('ASR');
    expect(leaseTraceparent(lease)).toBeNull();
    await lease.release();
  });
});

describe('W3C traceparent', () => {
  it('parses valid headers and ignores malformed ones', () => {
    expect(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
    });
    // A later version may carry more fields.
    expect(parseTraceparent('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-extra')).toMatchObject({ traceFlags: 0 });
    for (const bad of [
      undefined,
      '',
      'garbage',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra', // version 00 has 4 fields
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
    ]) {
      expect({ bad, parsed: parseTraceparent(bad) }).toEqual({ bad, parsed: null });
    }
  });

  it('formats a span context, refusing an invalid one', () => {
    expect(formatTraceparent({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 })).toBe(
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    );
    expect(formatTraceparent({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 })).toBeNull();
  });
});
