// The one file that loads the native addon. It declares the addon's raw shape and turns its
// failures into GpuArbiterErrors; no other module touches the addon directly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GpuArbiterError } from '../errors';

const packageRoot = path.resolve(__dirname, '..', '..');

/** Raw per-device sample as the native sampler produces it (see native/nvml/sample_js.cc). */
export interface RawDeviceSample {
  index: number;
  /** NVML return name of a device-wide failure, and the call that reported it. */
  error: string | null;
  errorCall?: string;
  name: string | null;
  uuid: string | null;
  memory: { total: number; used: number; free: number; reserved: number | null } | null;
  utilization: { gpu: number; memory: number } | null;
  temperatureC: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  persistenceMode: boolean | null;
  migMode: boolean | null;
  processes: Array<{ pid: number; usedBytes: number | null }> | null;
  errors: Record<string, string>;
}

export interface RawSnapshot {
  seq: number;
  takenAtMs: number;
  durationUs: number;
  available: boolean;
  reason: string | null;
  initError: string | null;
  libraryPath: string | null;
  driverVersion: string | null;
  nvmlVersion: string | null;
  cudaDriverVersion: number | null;
  /** NVML return name when nvmlDeviceGetCount failed. */
  countError: string | null;
  api: Record<string, string>;
  devices: RawDeviceSample[];
}

export interface RawSamplerOptions {
  libraryPath?: string;
  intervalMs: number;
  /** Called on the JS thread after every sample, with the new sequence number. */
  onSample: (seq: number) => void;
}

export interface RawSampler {
  /** Starts the sampler thread (idempotent). */
  start(): void;
  /** Stops the thread; resolves once it has left NVML (a hung call delays only this promise). */
  stop(): Promise<void>;
  /** Resolves with the sequence number of a sample that started after this call. */
  sampleNow(): Promise<number>;
  /** Sequence number of the newest finished sample (0 before the first); cheap. */
  seq(): number;
  snapshot(): RawSnapshot;
  setIntervalMs(ms: number): void;
}

export interface RawAddon {
  nvml: {
    Sampler: new (options: RawSamplerOptions) => RawSampler;
    returnName(code: number): string;
  };
  host: RawHostModule;
}

/** One holder as the host ledger's inspect() reports it (native/host/ledger_wrap.cc). */
export interface RawHostHolder {
  resource: string;
  /** The label given at acquire ('' when none). */
  label: string;
  pid: number;
  /** worker_threads threadId of the holder (0 = main thread). */
  thread: number;
  owner: number;
  slot: number;
  priority: number;
  units: number;
  fence: number;
  sinceMs: number;
  /** Held by this process. */
  mine: boolean;
}

export interface RawHostWaiter {
  resource: string;
  label: string;
  pid: number;
  thread: number;
  owner: number;
  priority: number;
  units: number;
  seq: number;
  sinceMs: number;
  /** Granted, not yet picked up by its process's waiter thread. */
  granted: boolean;
}

export interface RawHostResource {
  name: string;
  capacity: number;
  used: number;
  fence: number;
  waiting: number;
  external: number;
  closed: boolean;
}

/** One resource's part of a view (RawHostLedger.inspectResource): no processes, no counters. */
export interface RawHostResourceView {
  /** The resource (one entry), or none when it is not defined. */
  resources: RawHostResource[];
  holders: RawHostHolder[];
  waiters: RawHostWaiter[];
}

export interface RawHostView extends RawHostResourceView {
  processes: Array<{ pid: number; startTime: number }>;
  ownershipViolations: number;
  repairs: number;
  reclaimedProcesses: number;
  grants: number;
}

/**
 * The numbers the host ledger's calls return, by name: exported (frozen) by the addon from the
 * native enums (native/host/ledger.h, ledger_layout.h), so no TypeScript file mirrors them.
 */
export interface RawHostCodes {
  /** RawHostLedger.acquire(). */
  readonly acquire: Readonly<{ GRANTED: number; QUEUED: number; BUSY: number; DOES_NOT_FIT: number; TABLE_FULL: number; UNKNOWN_RESOURCE: number }>;
  /** RawHostLedger.cancel(); NOT_FOUND: the grant is already on its way to onGrant. */
  readonly cancel: Readonly<{ REMOVED: number; RELEASED_GRANT: number; NOT_FOUND: number }>;
  /**
   * RawHostLedger.release(); WAS_REVOKED / WAS_EXPIRED: taken away before (WAS_EXPIRED: by the
   * ledger, for outliving revokeAfterMs), nothing to give back; NOT_OWNER: refused and counted
   * host-wide.
   */
  readonly release: Readonly<{ RELEASED: number; WAS_REVOKED: number; NOT_OWNER: number; WAS_EXPIRED: number }>;
  /** Why a hold was revoked: RawHostLedger.revoke()'s reason and onGrant's lostReason (never 0). */
  readonly lostReason: Readonly<{ revoked: number; expired: number; 'holder-dead': number; 'backend-closed': number }>;
}

export interface RawHostLedgerOptions {
  namespace: string;
  /** worker_threads threadId, recorded on holds and waiters for inspect(). */
  threadId: number;
  /**
   * Called on the JS thread (through a ThreadSafeFunction) for each grant the waiter thread
   * picked up for one of this handle's queued requests (lostReason 0), and for each hold of
   * this handle that was revoked (request 0, lostReason one of RawHostCodes.lostReason). A grant
   * of an all-or-nothing request (acquireSet) comes as `gang` calls, one per member, each with
   * the resource index it holds (resource -1 and gang 0 otherwise).
   */
  onGrant: (request: number, slot: number, tokenHi: number, tokenLo: number, fence: number, lostReason: number, resource: number, gang: number) => void;
  /**
   * Length >= 6: acquire() writes [slot, tokenHi, tokenLo, fence, request] here, usage()
   * [capacity, external, used, closed (0/1), waiting, headPriority or NaN].
   */
  scratch: Float64Array;
  /** false: fail (E_BACKEND_UNAVAILABLE) instead of creating a missing ledger. Default true. */
  create?: boolean;
  /** Mode of a ledger file this call creates (0o600 or 0o660; the umask does not apply). Default 0o600. */
  mode?: number;
  /** Group (gid, or a name resolved natively) of a ledger file this call creates. */
  group?: number | string;
  /** Owners of the file trusted besides this process's user and root. */
  trustOwner?: number[];
}

/**
 * One open handle on a host ledger (native/host/ledger_wrap.cc). Every method runs natively on
 * the calling JS thread (a few microseconds under the ledger's lock; waiting happens on the
 * process's waiter thread, never here). Throws Errors with a `code` (see fromNative).
 */
export interface RawHostLedger {
  /**
   * Defines a resource, or checks its capacity (update=false: a mismatch throws) or replaces it
   * (update=true); returns its index.
   */
  defineResource(name: string, capacity: number, update?: boolean): number;
  /** Sets the units used outside the ledger and the closed flag; reschedules its waiters. */
  setResourceState(resource: number, external: number, closed: boolean): void;
  /** Writes the resource's figures to the scratch array (see RawHostLedgerOptions.scratch). */
  usage(resource: number): void;
  /** Index of a resource defined by any process, or -1. */
  findResource(name: string): number;
  /**
   * One of RawHostCodes.acquire. queue=true grants inline when it can (one call for an
   * uncontended request), else queues. Details in the scratch array.
   */
  acquire(resource: number, units: number, priority: number, queue: boolean, label?: string, revokeAfterMs?: number): number;
  /**
   * All of `resources` (2..16, distinct), `units` each, or none: [status (RawHostCodes.acquire),
   * waiter slot (QUEUED) or -1, request (QUEUED), then per member when GRANTED, in the order
   * asked: resource, holder slot, tokenHi, tokenLo, fence].
   */
  acquireSet(resources: number[], units: number, priority: number, queue: boolean, label?: string, revokeAfterMs?: number): number[];
  /** Releases [slot, tokenHi, tokenLo, ...] under one lock: one RawHostCodes.release each. */
  releaseSet(holds: number[]): number[];
  /** One of RawHostCodes.cancel; for an acquireSet request, its waiter slot cancels all of it. */
  cancel(waiterSlot: number, request: number): number;
  /**
   * One of RawHostCodes.release. A hold of another handle or process ends as revoke() ends it
   * (its holder is told; RELEASED).
   */
  release(slot: number, tokenHi: number, tokenLo: number): number;
  /** Takes the hold away from whichever process has it; false when it is not held. */
  revoke(slot: number, tokenHi: number, tokenLo: number, reason: number): boolean;
  /** After a revocation notice: frees the revoked hold's slot (no-op if it is not one). */
  forget(slot: number, tokenHi: number, tokenLo: number): void;
  inspect(): RawHostView;
  /** The resource at `resource` with its holders and waiters only (empty when not defined). */
  inspectResource(resource: number): RawHostResourceView;
  /** Releases this handle's holds and waiters; idempotent. */
  close(): void;
  ref(): void;
  unref(): void;
  /** Test hook: takes the ledger lock, tears an update and sleeps until killed. */
  testParkInLock(): never;
  /** Test hook: a holder claiming to belong to (pid, startTime); -1 if no slot. */
  testInjectHolder(resource: number, units: number, pid: number, startTime: number): number;
}

export interface RawHostModule {
  Ledger: new (options: RawHostLedgerOptions) => RawHostLedger;
  /** inspect() of a namespace without registering this process in it (status tools); trustOwner as in RawHostLedgerOptions. */
  inspectNamespace(namespace: string, trustOwner?: number[]): RawHostView;
  /** /proc/<pid>/stat field 22 (clock ticks since boot), 0 when there is no such process. */
  processStartTime(pid: number): number;
  codes: RawHostCodes;
  layoutVersion: number;
  ledgerBytes: number;
  /** Where each table lies in a ledger file: [offset, bytes] (tests that corrupt a copy on purpose). */
  layout: RawHostLayout;
}

/** RawHostModule.layout (native/host/host_module.cc). */
export interface RawHostLayout {
  tables: Record<'resources' | 'procs' | 'holders' | 'waiters' | 'counters', [number, number]>;
  /** Offset of the ledger lock (its first word is 0 while nobody holds it). */
  lock: number;
  holdersHwm: number;
  waitersHwm: number;
  slotBytes: Record<'resources' | 'procs' | 'holders' | 'waiters', number>;
}

export interface AddonInfo {
  /** Absolute path of the .node file that was loaded. */
  file: string;
  /** 'prebuild' (shipped in prebuilds/), 'local-build' (build/Release) or 'override' (GPU_ARBITER_ADDON). */
  origin: 'prebuild' | 'local-build' | 'override';
}

/**
 * Turns an Error with a GpuArbiterError `code`, thrown by the addon (native/common/coded_error.h),
 * into a GpuArbiterError (its `reason`, where the addon set one, becomes `details.reason`);
 * anything else is returned as it is.
 */
export function fromNative(err: unknown): unknown {
  const { code, reason } = (err ?? {}) as { code?: unknown; reason?: unknown };
  if (err instanceof Error && typeof code === 'string' && code.startsWith('E_')) {
    return new GpuArbiterError(code as GpuArbiterError['code'], err.message, typeof reason === 'string' ? { reason } : {}, { cause: err });
  }
  return err;
}

let loaded: { addon: RawAddon; info: AddonInfo } | undefined;

function originOf(file: string): AddonInfo['origin'] {
  if (process.env.GPU_ARBITER_ADDON) return 'override';
  return file.includes(`${path.sep}prebuilds${path.sep}`) ? 'prebuild' : 'local-build';
}

function resolveAddonFile(): string {
  const override = process.env.GPU_ARBITER_ADDON;
  if (override) {
    if (!fs.existsSync(override)) {
      throw new GpuArbiterError('E_NATIVE_LOAD', `GPU_ARBITER_ADDON names ${override}, which does not exist`);
    }
    return path.resolve(override);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  try {
    return nodeGypBuild.resolve(packageRoot);
  } catch (err) {
    throw new GpuArbiterError(
      'E_NATIVE_LOAD',
      `No native addon found for linux-${process.arch} (Node-API). Looked in ` +
        `${path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`)} and ` +
        `${path.join(packageRoot, 'build', 'Release')}. Fix: npm rebuild gpu-arbiter ` +
        `(or npm_config_build_from_source=true npm install); it needs cmake and g++.`,
      { cause: (err as Error).message },
      { cause: err },
    );
  }
}

/** Loads the addon once per JS environment (each worker_thread loads its own instance). */
export function addon(): RawAddon {
  return load().addon;
}

/** Which addon file is in use and where it came from (for `doctor` and `status`). */
export function addonInfo(): AddonInfo {
  return load().info;
}

function load(): { addon: RawAddon; info: AddonInfo } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    throw new GpuArbiterError('E_UNSUPPORTED_PLATFORM', `gpu-arbiter's native addon supports Linux only; this is ${process.platform}-${process.arch}`);
  }
  const file = resolveAddonFile();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const raw = require(file) as RawAddon;
    loaded = { addon: raw, info: { file, origin: originOf(file) } };
    return loaded;
  } catch (err) {
    throw new GpuArbiterError(
      'E_NATIVE_LOAD',
      `Failed to load the native addon ${file}: ${(err as Error).message}. Fix: npm rebuild gpu-arbiter (builds it from source with cmake-js).`,
      { file },
      { cause: err },
    );
  }
}
