// Which `gpu.lease` span belongs to which lease, so a lease can hand its trace context to a
// child process. Its own file, with no type from @opentelemetry/api, because the public entry
// point exports leaseTraceparent and its declarations must compile without that package.
import type { Lease } from '../arbiter/lease';
import { formatTraceparent, type TraceParentFields } from './traceparent';

/** The part of a span this file reads. */
interface SpanLike {
  spanContext(): TraceParentFields;
}

/** The `gpu.lease` span of each lease traced in this process (dropped with the lease). */
const leaseSpans = new WeakMap<Lease, SpanLike>();

/** @internal Tracing (tracing.ts) notes each lease's span here. */
export function noteLeaseSpan(lease: Lease, span: SpanLike): void {
  leaseSpans.set(lease, span);
}

/**
 * The W3C traceparent of a lease's `gpu.lease` span, to hand a child process as TRACEPARENT (what
 * `gpu-arbiter exec` does), or null when the lease was not traced (no `otel` option) or its span
 * context is invalid (no OpenTelemetry SDK registered and no parent trace).
 * @example
 * spawn('python', ['infer.py'], { env: { ...process.env, ...lease.env, TRACEPARENT: leaseTraceparent(lease) ?? '' } });
 */
export function leaseTraceparent(lease: Lease): string | null {
  const span = leaseSpans.get(lease);
  return span === undefined ? null : formatTraceparent(span.spanContext());
}
