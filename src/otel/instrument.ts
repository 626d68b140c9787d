// Turns `options.otel` into the arbiter's OpenTelemetry parts: metrics on a Meter and spans on a
// Tracer, each optional. @opentelemetry/api is loaded here (api.ts) and only when asked for.
import type { Meter, Tracer } from '@opentelemetry/api';
import { loadOtelApi } from './api';
import { type MeteredArbiter, OtelMetrics } from './metrics';
import type { OtelConfig } from './options';
import { OtelTracing, type TracedArbiter } from './tracing';

/** The name of the instrumentation scope (meter and tracer) when the global providers are used. */
export const SCOPE = 'gpu-arbiter';

/** @internal The OpenTelemetry parts of one arbiter. */
export interface OtelParts {
  tracing: OtelTracing | null;
  close(): void;
}

/** @internal */
export function instrument(config: OtelConfig, arbiter: MeteredArbiter & TracedArbiter): OtelParts {
  const api = loadOtelApi();
  const meter = config.meter === 'global' ? api.metrics.getMeter(SCOPE) : (config.meter as Meter | null);
  const tracer = config.tracer === 'global' ? api.trace.getTracer(SCOPE) : (config.tracer as Tracer | null);
  const metrics = meter === null ? null : new OtelMetrics(meter, arbiter);
  const tracing = tracer === null ? null : new OtelTracing(api, tracer, config.traceparent, arbiter);
  return {
    tracing,
    close: () => {
      metrics?.close();
      tracing?.close();
    },
  };
}
