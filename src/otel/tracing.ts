// Spans of the arbiter: `gpu.acquire` from request to grant or failure, and `gpu.lease` from
// grant to release, both children of the caller's active span (or of options.otel.traceparent
// when the caller has none), so a slow request shows its GPU wait in its own trace. The facade
// (arbiter/gpu-arbiter.ts) routes acquire() and run() through here only when tracing is on.
//
// Attributes (README "OpenTelemetry"): gpu.task, gpu.priority, gpu.vram.requested_mib,
// gpu.device, gpu.device.uuid, gpu.waited_ms, gpu.outcome, gpu.reason; gpu.lease.id,
// gpu.lease.label, gpu.lease.fencing_token, gpu.lease.held_ms, gpu.lease.oom,
// gpu.lease.lost_reason. Written as literal keys, and only on spans that record: without an SDK
// (or unsampled) a span costs its allocation and nothing else (bench/otel-overhead.js).
import type { EventEmitter } from 'node:events';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import type { Lease } from '../arbiter/lease';
import type { RunResult } from '../arbiter/types';
import { outcomeOfError } from '../policy/outcome';
import type { TaskPolicy } from '../policy/task-policy';
import type { OtelApiModule } from './api';
import { noteLeaseSpan } from './lease-context';
import { parseTraceparent } from './traceparent';

/** What tracing reads from the arbiter: its policies (priority, size) and its lease events. */
export interface TracedArbiter extends Pick<EventEmitter, 'on' | 'off'> {
  policies(): ReadonlyMap<string, TaskPolicy>;
}

interface AcquireOptionsSeen {
  priority?: unknown;
  vramMiB?: unknown;
}

/** @internal */
export class OtelTracing {
  /** Open `gpu.lease` spans that record (a span that does not need no end). */
  private readonly open = new Map<Lease, Span>();
  private readonly remote: Context | null;

  constructor(
    private readonly api: OtelApiModule,
    private readonly tracer: Tracer,
    traceparent: string | null,
    private readonly arbiter: TracedArbiter,
  ) {
    const p = parseTraceparent(traceparent ?? undefined);
    this.remote = p === null ? null : api.trace.setSpanContext(api.ROOT_CONTEXT, { ...p, isRemote: true });
    arbiter.on('released', this.onReleased);
    arbiter.on('lease-lost', this.onLost);
  }

  /** The caller's active context; the configured traceparent where no span is active. */
  private parent(): Context {
    const active = this.api.context.active();
    if (this.remote === null || this.api.trace.getSpan(active) !== undefined) return active;
    return this.remote;
  }

  private startAcquire(task: string, options: AcquireOptionsSeen | undefined, parent: Context): Span {
    const span = this.tracer.startSpan('gpu.acquire', { kind: this.api.SpanKind.INTERNAL, attributes: { 'gpu.task': task } }, parent);
    if (!span.isRecording()) return span;
    const policy = this.arbiter.policies().get(task);
    const priority = typeof options?.priority === 'number' ? options.priority : policy?.priority;
    if (priority !== undefined) span.setAttribute('gpu.priority', priority);
    const mib = typeof options?.vramMiB === 'number' ? options.vramMiB : policy?.vramMiB;
    if (mib !== undefined) span.setAttribute('gpu.vram.requested_mib', mib);
    return span;
  }

  /** acquire() under a `gpu.acquire` span; the lease gets its `gpu.lease` span. */
  acquire(task: string, options: AcquireOptionsSeen | undefined, call: () => Promise<Lease>): Promise<Lease> {
    const parent = this.parent();
    const span = this.startAcquire(task, options, parent);
    return call().then(
      (lease) => {
        this.granted(span, lease, parent);
        return lease;
      },
      (err: unknown) => {
        this.failed(span, err);
        throw err;
      },
    );
  }

  /** run() under a `gpu.acquire` span; `fn` runs with the `gpu.lease` span active. */
  run<T, F>(
    task: string,
    options: AcquireOptionsSeen | undefined,
    fn: (lease: Lease) => T | Promise<T>,
    call: (fn: (lease: Lease) => Promise<T>) => Promise<RunResult<T, F>>,
  ): Promise<RunResult<T, F>> {
    const parent = this.parent();
    const span = this.startAcquire(task, options, parent);
    let granted = false;
    const traced = async (lease: Lease): Promise<T> => {
      granted = true;
      const leaseSpan = this.granted(span, lease, parent);
      try {
        return await this.api.context.with(this.api.trace.setSpan(parent, leaseSpan), fn, undefined, lease);
      } catch (err) {
        // Recorded before run() releases the lease (the release ends the span).
        leaseSpan.recordException(err as Error);
        leaseSpan.setStatus({ code: this.api.SpanStatusCode.ERROR, message: (err as Error)?.message });
        throw err;
      }
    };
    return call(traced).then(
      (r) => {
        if (!granted && r.status !== 'ran') {
          span.setAttribute('gpu.outcome', r.status);
          span.setAttribute('gpu.reason', r.reason);
          span.end();
        }
        return r;
      },
      (err: unknown) => {
        if (!granted) this.failed(span, err);
        throw err;
      },
    );
  }

  private granted(span: Span, lease: Lease, parent: Context): Span {
    if (span.isRecording()) {
      span.setAttributes(leaseAttributes(lease));
      span.setAttribute('gpu.waited_ms', lease.waitedMs);
      span.setAttribute('gpu.outcome', 'acquired');
    }
    span.end();
    const leaseSpan = this.tracer.startSpan('gpu.lease', { kind: this.api.SpanKind.INTERNAL, attributes: { 'gpu.task': lease.task } }, parent);
    if (leaseSpan.isRecording()) {
      leaseSpan.setAttributes(leaseAttributes(lease));
      if (lease.label !== null) leaseSpan.setAttribute('gpu.lease.label', lease.label);
      this.open.set(lease, leaseSpan);
      noteLeaseSpan(lease, leaseSpan);
    } else if (this.api.trace.getSpan(parent) !== undefined) {
      // Not recorded, but it carries the parent's trace (no SDK here, a traceparent given):
      // leaseTraceparent still hands that on.
      noteLeaseSpan(lease, leaseSpan);
    }
    return leaseSpan;
  }

  private failed(span: Span, err: unknown): void {
    const outcome = outcomeOfError(err);
    span.setAttribute('gpu.outcome', outcome);
    const code = (err as { code?: unknown })?.code;
    if (typeof code === 'string') span.setAttribute('gpu.reason', code);
    // A caller's own abort is not a failure of the request.
    if (outcome !== 'aborted') span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: (err as Error)?.message });
    span.end();
  }

  private readonly onReleased = (lease: Lease, heldMs: number, oom: boolean): void => {
    const span = this.open.get(lease);
    if (span === undefined) return;
    this.open.delete(lease);
    span.setAttribute('gpu.lease.held_ms', heldMs);
    span.setAttribute('gpu.lease.oom', oom);
    span.end();
  };

  private readonly onLost = (e: { lease: { id: string }; reason: string }): void => {
    // Rare: a scan of the open spans rather than an index kept up on every grant.
    for (const [lease, span] of this.open) {
      if (lease.id !== e.lease.id) continue;
      span.setAttribute('gpu.lease.lost_reason', e.reason);
      span.addEvent('gpu.lease.lost', { 'gpu.lease.lost_reason': e.reason });
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: `lease lost: ${e.reason}` });
    }
  };

  /** Ends the spans of leases still held when the arbiter closes (close() takes their holds). */
  close(): void {
    this.arbiter.off('released', this.onReleased);
    this.arbiter.off('lease-lost', this.onLost);
    for (const span of this.open.values()) {
      span.setAttribute('gpu.reason', 'arbiter-closed');
      span.end();
    }
    this.open.clear();
  }
}

/** What both spans say about a granted lease. */
function leaseAttributes(lease: Lease): Record<string, string | number> {
  const a: Record<string, string | number> = {
    'gpu.task': lease.task,
    'gpu.device': lease.device.index,
    'gpu.vram.requested_mib': lease.vramMiB,
    'gpu.lease.id': lease.id,
    'gpu.lease.fencing_token': lease.fencingToken,
  };
  if (lease.device.uuid !== null) a['gpu.device.uuid'] = lease.device.uuid;
  return a;
}
