// The only file that loads @opentelemetry/api (an optional peer dependency), and only when an
// arbiter is created with `otel` set: `require('gpu-arbiter')` never loads it (checked by
// test/package-exports.test.ts), and the import rule `only-otel-imports-opentelemetry` in
// .dependency-cruiser.cjs keeps every other file away from it.
import type * as OtelApi from '@opentelemetry/api';
import { GpuArbiterError } from '../errors';

export type OtelApiModule = typeof OtelApi;

let loaded: OtelApiModule | null = null;

/** @opentelemetry/api, loaded on first use; E_INVALID_ARGUMENT naming the package when absent. */
export function loadOtelApi(): OtelApiModule {
  if (loaded !== null) return loaded;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require('@opentelemetry/api') as OtelApiModule;
  } catch (err) {
    throw new GpuArbiterError(
      'E_INVALID_ARGUMENT',
      'options.otel needs @opentelemetry/api (an optional peer dependency): npm install @opentelemetry/api',
      { field: 'options.otel' },
      { cause: err },
    );
  }
  return loaded;
}

/** Whether @opentelemetry/api can be loaded here (`gpu-arbiter exec` turns tracing on only then). */
export function otelApiAvailable(): boolean {
  try {
    loadOtelApi();
    return true;
  } catch {
    return false;
  }
}

/**
 * Asks the global tracer and meter providers to export what they hold, waiting at most
 * `timeoutMs` (a CLI about to exit: an SDK's batch processor would otherwise lose the last spans).
 * Does nothing when @opentelemetry/api was never loaded; never throws.
 */
export async function flushOtel(timeoutMs = 2000): Promise<void> {
  if (loaded === null) return;
  const api = loaded;
  type Flushable = { forceFlush?: () => Promise<void>; getDelegate?: () => Flushable };
  const tracers = api.trace.getTracerProvider() as Flushable;
  const providers = [tracers.getDelegate?.() ?? tracers, api.metrics.getMeterProvider() as Flushable];
  const flushes = providers.map((p) => (typeof p.forceFlush === 'function' ? p.forceFlush().catch(() => undefined) : undefined));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([Promise.all(flushes), timeout]);
  clearTimeout(timer);
}
