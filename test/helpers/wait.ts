// Polling waits for tests: they bound how long a condition may take to become true, and fail
// with the condition's description rather than a bare timeout.
export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** waitFor() for a condition that takes a round trip to read (another process, a server). */
export async function waitForAsync(check: () => Promise<boolean>, what: string, timeoutMs = 5000, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What {@link afterSamples} listens to: a GpuMonitor or a SimulatedGpu (both emit 'sample'). */
interface SampleSource {
  on(event: 'sample', listener: () => void): unknown;
  off(event: 'sample', listener: () => void): unknown;
}

/**
 * Resolves once `check` holds, testing it now and again after each 'sample' event of `monitor`
 * (once the listeners registered before this one - an arbiter's - and the promise chains they
 * started have run: setImmediate comes after them). For conditions that only a sample can make
 * true, instead of sleeping a fixed time and hoping the sampler ran meanwhile.
 */
export function afterSamples(monitor: SampleSource, check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onSample = (): void => {
      setImmediate(() => {
        if (!check()) return;
        done();
        resolve();
      });
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      monitor.off('sample', onSample);
    };
    monitor.on('sample', onSample);
  });
}

/** Resolves after `n` more 'sample' events of `monitor`, and what the listeners before this one started on them. */
export function samples(monitor: SampleSource, n = 1, timeoutMs = 5000): Promise<void> {
  let seen = 0;
  return new Promise((resolve, reject) => {
    const onSample = (): void => {
      if (++seen < n) return;
      done();
      setImmediate(resolve);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${n} sample(s) (saw ${seen})`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      monitor.off('sample', onSample);
    };
    monitor.on('sample', onSample);
  });
}
