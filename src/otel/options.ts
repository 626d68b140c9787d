// `GpuArbiter.create({ otel })`: how a user turns OpenTelemetry on. The public types below are
// structural (the members the arbiter calls), so the published declarations name no type of
// @opentelemetry/api and compile for users who do not install it; a real Meter and Tracer fit
// them (test/fixtures/types-consumer/consumer.ts checks that).
import { invalid, knownKeys, optionsObject } from '../util/validate';
import { parseTraceparent } from './traceparent';

/** The members of an OpenTelemetry `Meter` the arbiter uses. */
export interface OtelMeterLike {
  createHistogram(name: string, options?: object): { record(value: number, attributes?: Record<string, string>): void };
  createObservableCounter(name: string, options?: object): object;
  createObservableGauge(name: string, options?: object): object;
  addBatchObservableCallback(callback: (result: OtelBatchResult) => void, observables: object[]): void;
  removeBatchObservableCallback(callback: (result: OtelBatchResult) => void, observables: object[]): void;
}

/** What a batch observable callback of an OpenTelemetry `Meter` is handed. */
export interface OtelBatchResult {
  observe(observable: object, value: number, attributes?: Record<string, string>): void;
}

/** The member of an OpenTelemetry `Tracer` the arbiter uses. */
export interface OtelTracerLike {
  startSpan(name: string, options?: object, context?: object): object;
}

/** `otel` of {@link GpuArbiter.create}. */
export interface OtelOptions {
  /**
   * Where the metrics go (the Prometheus families' names and labels). Default: the global
   * MeterProvider's meter 'gpu-arbiter'; false: no metrics.
   */
  meter?: OtelMeterLike | false;
  /** Where `gpu.acquire` and `gpu.lease` spans go. Default: the global tracer 'gpu-arbiter'; false: no spans. */
  tracer?: OtelTracerLike | false;
  /**
   * A W3C traceparent the spans descend from when the caller has no active span (a batch job or
   * a CLI started under a trace: `gpu-arbiter exec` passes its TRACEPARENT here).
   */
  traceparent?: string;
}

/** true: the global MeterProvider and TracerProvider; an object: see {@link OtelOptions}. */
export type OtelOption = boolean | OtelOptions;

/** @internal Validated `otel`; null when off. */
export interface OtelConfig {
  meter: OtelMeterLike | 'global' | null;
  tracer: OtelTracerLike | 'global' | null;
  traceparent: string | null;
}

function hasMethods(v: unknown, names: string[]): boolean {
  return typeof v === 'object' && v !== null && names.every((n) => typeof (v as Record<string, unknown>)[n] === 'function');
}

/** @internal Validates create()'s `otel` (E_INVALID_ARGUMENT naming the field). */
export function parseOtelOption(value: unknown): OtelConfig | null {
  if (value === undefined || value === false) return null;
  if (value === true) return { meter: 'global', tracer: 'global', traceparent: null };
  const o = optionsObject<OtelOptions>('options.otel', value);
  knownKeys('options.otel', o, ['meter', 'tracer', 'traceparent']);
  const meterMethods = ['createHistogram', 'createObservableCounter', 'createObservableGauge', 'addBatchObservableCallback', 'removeBatchObservableCallback'];
  if (o.meter !== undefined && o.meter !== false && !hasMethods(o.meter, meterMethods)) {
    throw invalid('options.otel.meter', 'an OpenTelemetry Meter or false', o.meter);
  }
  if (o.tracer !== undefined && o.tracer !== false && !hasMethods(o.tracer, ['startSpan'])) {
    throw invalid('options.otel.tracer', 'an OpenTelemetry Tracer or false', o.tracer);
  }
  if (o.traceparent !== undefined && typeof o.traceparent !== 'string') throw invalid('options.otel.traceparent', 'a string', o.traceparent);
  return {
    meter: o.meter === false ? null : (o.meter ?? 'global'),
    tracer: o.tracer === false ? null : (o.tracer ?? 'global'),
    // A malformed traceparent is ignored (as W3C says a receiver must), not an error.
    traceparent: parseTraceparent(o.traceparent) === null ? null : o.traceparent!,
  };
}
