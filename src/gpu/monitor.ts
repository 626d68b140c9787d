import { EventEmitter } from 'node:events';
import { GpuArbiterError } from '../errors';
import type { GpuDevice, GpuSnapshot } from './types';
import { addon, type RawSampler } from '../native/addon';
import { toSnapshot, stoppedSnapshot } from './snapshot-convert';
import { integerInRange, knownKeys, nonEmptyString, optionsObject } from '../util/validate';

export interface GpuMonitorOptions {
  /**
   * How often the native sampler thread reads every GPU, in milliseconds.
   * @default 500
   */
  intervalMs?: number;
  /**
   * NVML library to open.
   * @default process.env.GPU_ARBITER_NVML_LIB, else 'libnvidia-ml.so.1' (found by the dynamic loader)
   */
  libraryPath?: string;
}

/** Payload of the `device-error` and `device-recovered` events. */
export interface DeviceErrorEvent {
  device: GpuDevice;
  /** The device's error in the previous sample (null when it was healthy). */
  previous: GpuDevice['error'];
}

export interface GpuMonitorEvents {
  sample: [snapshot: GpuSnapshot];
  'device-error': [event: DeviceErrorEvent];
  'device-recovered': [event: DeviceErrorEvent];
}

const DEFAULT_INTERVAL_MS = 500;
const OPTION_KEYS = ['intervalMs', 'libraryPath'] as const;

/**
 * Reads NVML on a native sampler thread (never on the event loop, never on libuv's
 * threadpool) and keeps the newest sample. `snapshot()` is synchronous and cheap: it asks the
 * addon for the sample's sequence number and converts a new sample only once.
 *
 * @example
 * const monitor = await GpuMonitor.create();
 * if (!monitor.available) console.log(monitor.unavailableReason);
 * for (const d of monitor.devices()) console.log(d.index, d.memory?.usedBytes);
 * await monitor.stop();
 */
export class GpuMonitor extends EventEmitter<GpuMonitorEvents> {
  readonly intervalMs: number;
  readonly libraryPath: string;
  private readonly sampler: RawSampler;
  private cached: GpuSnapshot = stoppedSnapshot('the monitor has not been started');
  private running = false;
  private firstSample: Promise<void> | undefined;

  /** Creates a monitor and waits for its first sample. */
  static async create(options?: GpuMonitorOptions): Promise<GpuMonitor> {
    const monitor = new GpuMonitor(options);
    await monitor.start();
    return monitor;
  }

  constructor(options?: GpuMonitorOptions) {
    super();
    const opts = optionsObject<GpuMonitorOptions>('options', options);
    knownKeys('options', opts, OPTION_KEYS);
    this.intervalMs = opts.intervalMs === undefined ? DEFAULT_INTERVAL_MS : integerInRange('options.intervalMs', opts.intervalMs, 10, 3_600_000);
    this.libraryPath =
      opts.libraryPath === undefined ? process.env.GPU_ARBITER_NVML_LIB || 'libnvidia-ml.so.1' : nonEmptyString('options.libraryPath', opts.libraryPath);
    this.sampler = new (addon().nvml.Sampler)({
      libraryPath: this.libraryPath,
      intervalMs: this.intervalMs,
      onSample: () => this.onSample(),
    });
  }

  /** NVML was loaded and initialised (as of the newest sample). */
  get available(): boolean {
    return this.snapshot().available;
  }

  /** Why NVML is not available ("libnvidia-ml.so.1 not found: ..."), or null. */
  get unavailableReason(): string | null {
    return this.snapshot().unavailableReason;
  }

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.running;
  }

  /** The newest sample. Synchronous; the returned object is frozen and shared. */
  snapshot(): GpuSnapshot {
    if (this.running && this.sampler.seq() !== this.cached.seq) this.refresh();
    return this.cached;
  }

  /** Devices of the newest sample. */
  devices(): readonly GpuDevice[] {
    return this.snapshot().devices;
  }

  /** Starts sampling; resolves after the first sample, so `available` is meaningful. */
  start(): Promise<void> {
    if (!this.running) {
      this.running = true;
      this.sampler.start();
      this.firstSample = this.sampler.sampleNow().then(() => {
        this.refresh();
      });
    }
    return this.firstSample as Promise<void>;
  }

  /**
   * Takes a fresh sample now (on the sampler thread) and resolves with it. A hung NVML call
   * delays this promise, never the event loop.
   */
  async sampleNow(): Promise<GpuSnapshot> {
    if (!this.running) throw new GpuArbiterError('E_CLOSED', 'The GPU monitor is stopped; call start() first');
    await this.sampler.sampleNow();
    return this.snapshot();
  }

  /** Changes the sampling interval (takes effect after the current wait). */
  setIntervalMs(ms: number): void {
    this.sampler.setIntervalMs(integerInRange('intervalMs', ms, 10, 3_600_000));
  }

  /** Stops the sampler thread and releases NVML. The last sample stays readable. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.refresh();
    this.running = false;
    await this.sampler.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private refresh(): void {
    this.cached = toSnapshot(this.sampler.snapshot());
  }

  // JS thread, once per finished sample (through the addon's ThreadSafeFunction). A listener
  // that throws must surface as an uncaught exception, as with any emitter driven by a timer:
  // thrown back into the addon's callback it would be swallowed with only a warning.
  private onSample(): void {
    try {
      this.publishSample();
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  private publishSample(): void {
    if (!this.running) return;
    const previous = this.cached;
    this.refresh();
    const current = this.cached;
    for (const device of current.devices) {
      const before = previous.devices.find((d) => d.index === device.index)?.error ?? null;
      if (device.error && device.error.nvmlReturn !== before?.nvmlReturn) {
        this.emit('device-error', { device, previous: before });
      } else if (!device.error && before) {
        this.emit('device-recovered', { device, previous: before });
      }
    }
    this.emit('sample', current);
  }
}
