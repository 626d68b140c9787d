// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
// written and read here with no OpenTelemetry package, because the value crosses a process
// boundary (`gpu-arbiter exec` sets TRACEPARENT for its command) where no propagator may be
// registered. Format: version "00", 32 hex trace id, 16 hex span id, 2 hex flags.

/** The fields of a span context that a traceparent carries. */
export interface TraceParentFields {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Parses a traceparent; null when absent or malformed (a bad header is ignored, never thrown). */
export function parseTraceparent(value: string | undefined): TraceParentFields | null {
  if (value === undefined) return null;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return null;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  // Version ff is invalid; version 00 has exactly four fields (later versions may add more).
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) };
}

/** Formats a span context as a version-00 traceparent; null for an invalid (all-zero) context. */
export function formatTraceparent(ctx: TraceParentFields): string | null {
  if (!/^[0-9a-f]{32}$/.test(ctx.traceId) || ctx.traceId === ZERO_TRACE) return null;
  if (!/^[0-9a-f]{16}$/.test(ctx.spanId) || ctx.spanId === ZERO_SPAN) return null;
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}
