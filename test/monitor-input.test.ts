// Bad input to every public monitor entry point is refused with E_INVALID_ARGUMENT and a
// message that names the field and the value.
import { describe, expect, it } from 'vitest';
import { GpuArbiterError } from '../src/errors';
import { GpuMonitor } from '../src/gpu/monitor';

function refused(fn: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(GpuArbiterError);
  expect(caught).toMatchObject({ code: 'E_INVALID_ARGUMENT' });
  expect((caught as Error).message).toMatch(message);
}

describe('GpuMonitor input validation', () => {
  it('refuses bad constructor options', () => {
    refused(() => new GpuMonitor(null as never), /Expected an object for options but received null/);
    refused(() => new GpuMonitor('fast' as never), /Expected an object for options but received "fast"/);
    refused(() => new GpuMonitor({ intervalMs: -1 }), /Expected an integer from 10 to 3600000 for options.intervalMs but received -1/);
    refused(() => new GpuMonitor({ intervalMs: 2.5 }), /options.intervalMs but received 2.5/);
    refused(() => new GpuMonitor({ intervalMs: '500' as never }), /options.intervalMs but received "500"/);
    refused(() => new GpuMonitor({ libraryPath: '' }), /Expected a non-empty string for options.libraryPath but received ""/);
    refused(() => new GpuMonitor({ libraryPath: 42 as never }), /options.libraryPath but received 42/);
    refused(() => new GpuMonitor({ intervalMS: 100 } as never), /Unknown option options.intervalMS/);
  });

  it('refuses a bad interval change', () => {
    const m = new GpuMonitor({ libraryPath: '/nonexistent/libnvidia-ml.so.1' });
    refused(() => m.setIntervalMs(0), /Expected an integer from 10 to 3600000 for intervalMs but received 0/);
    refused(() => m.setIntervalMs(Number.NaN), /for intervalMs but received NaN/);
  });

  it('the errors carry the field in details', () => {
    try {
      new GpuMonitor({ intervalMs: 1 });
      expect.unreachable();
    } catch (err) {
      expect((err as GpuArbiterError).details.field).toBe('options.intervalMs');
    }
  });
});
