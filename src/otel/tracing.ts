// Spans of the arbiter: `gpu.acquire` from request to grant or failure, and `gpu.lease` from
// grant to release, both children of the caller's active span (or of options.otel.traceparent
// when the caller has none), so a slow request shows its GPU wait in its own trace. The facade
// (arbiter/gpu-arbiter.ts) routes acquire() and run() through here only when tracing is on.
import type { EventEmitter } from 'node:events';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import type { Lease } from '../arbiter/lease';
import type { RunResult } from '../arbiter/types';
import { outcomeOfError } from '../policy/outcome';
import type { TaskPolicy } from '../policy/task-policy';
import type { OtelApiModule } from './api';
import { noteLeaseSpan } from './lease-context';
import { parseTraceparent } from './traceparent';

/** Attribute names (one place, so tests and README name the same keys). */
export const SpanAttr = {
  task: 'gpu.task',
  priority: 'gpu.priority',
  requestedMiB: 'gpu.vram.requested_mib',
  device: 'gpu.device',
  deviceUuid: 'gpu.device.uuid',
  waitedMs: 'gpu.waited_ms',
  outcome: 'gpu.outcome',
  reason: 'gpu.reason',
  leaseId: 'gpu.lease.id',
  label: 'gpu.lease.label',
  heldMs: 'gpu.lease.held_ms',
  fencingToken: 'gpu.lease.fencing_token',
  lostReason: 'gpu.lease.lost_reason',
  oom: 'gpu.lease.oom',
} as const;

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
  /** Open `gpu.lease` spans by lease id (ids are unique per arbiter). */
  private readonly open = new Map<string, Span>();
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
    const policy = this.arbiter.policies().get(task);
    const attributes: Record<string, string | number> = { [SpanAttr.task]: task };
    const priority = typeof options?.priority === 'number' ? options.priority : policy?.priority;
    if (priority !== undefined) attributes[SpanAttr.priority] = priority;
    const mib = typeof options?.vramMiB === 'number' ? options.vramMiB : policy?.vramMiB;
    if (mib !== undefined) attributes[SpanAttr.requestedMiB] = mib;
    return this.tracer.startSpan('gpu.acquire', { kind: this.api.SpanKind.INTERNAL, attributes }, parent);
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
          span.setAttributes({ [SpanAttr.outcome]: r.status, [SpanAttr.reason]: r.reason });
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
    const common: Record<string, string | number> = {
      [SpanAttr.task]: lease.task,
      [SpanAttr.device]: lease.device.index,
      [SpanAttr.leaseId]: lease.id,
      [SpanAttr.fencingToken]: lease.fencingToken,
    };
    if (lease.device.uuid !== null) common[SpanAttr.deviceUuid] = lease.device.uuid;
    span.setAttributes({ ...common, [SpanAttr.requestedMiB]: lease.vramMiB, [SpanAttr.waitedMs]: lease.waitedMs, [SpanAttr.outcome]: 'acquired' });
    span.end();
    const attributes: Record<string, string | number> = { ...common, [SpanAttr.requestedMiB]: lease.vramMiB };
    if (lease.label !== null) attributes[SpanAttr.label] = lease.label;
    const leaseSpan = this.tracer.startSpan('gpu.lease', { kind: this.api.SpanKind.INTERNAL, attributes }, parent);
    // A lease released before its span exists (impossible today: release needs the lease the
    // caller gets after this) would leave the span open; the release listener finds it by id.
    this.open.set(lease.id, leaseSpan);
    noteLeaseSpan(lease, leaseSpan);
    return leaseSpan;
  }

  private failed(span: Span, err: unknown): void {
    const outcome = outcomeOfError(err);
    span.setAttribute(SpanAttr.outcome, outcome);
    const code = (err as { code?: unknown })?.code;
    if (typeof code === 'string') span.setAttribute(SpanAttr.reason, code);
    // A caller's own abort is not a failure of the request.
    if (outcome !== 'aborted') span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: (err as Error)?.message });
    span.end();
  }

  private readonly onReleased = (lease: Lease, heldMs: number, oom: boolean): void => {
    const span = this.open.get(lease.id);
    if (span === undefined) return;
    this.open.delete(lease.id);
    span.setAttributes({ [SpanAttr.heldMs]: heldMs, [SpanAttr.oom]: oom });
    span.end();
  };

  private readonly onLost = (e: { lease: { id: string }; reason: string }): void => {
    const span = this.open.get(e.lease.id);
    if (span === undefined) return;
    span.setAttribute(SpanAttr.lostReason, e.reason);
    span.addEvent('gpu.lease.lost', { [SpanAttr.lostReason]: e.reason });
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: `lease lost: ${e.reason}` });
  };

  /** Ends the spans of leases still held when the arbiter closes (close() takes their holds). */
  close(): void {
    this.arbiter.off('released', this.onReleased);
    this.arbiter.off('lease-lost', this.onLost);
    for (const span of this.open.values()) {
      span.setAttribute(SpanAttr.reason, 'arbiter-closed');
      span.end();
    }
    this.open.clear();
  }
}
