// Test hooks of the host ledger: not part of the API (not exported by the package index), and
// refused natively unless the process runs with GPU_ARBITER_TEST_HOOKS=1 (see
// native/host/ledger_wrap.cc). They can wedge or corrupt a shared ledger on purpose.
import { fromNative, type RawHostLedger } from '../../native/addon';
import { hostModule } from './addon';
import type { HostBackend } from './backend';
import { rawLedger, resourceIndex, type HostLedger } from './ledger';

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * @internal Takes the ledger lock, leaves a torn update behind and sleeps until the process is
 * killed (see ProcessLedger::TestParkInLock in native/host/ledger.h). Never returns.
 */
export function parkInLock(ledger: HostLedger): never {
  const raw = rawLedger(ledger);
  return call(() => raw.testParkInLock());
}

/**
 * @internal Makes a holder of `units` of `resource` that claims to belong to process
 * (pid, startTime), for the pid-reuse test; returns its slot, or -1 when no slot is free.
 */
export function injectHolder(ledger: HostLedger, resource: string, units: number, pid: number, startTime: number): number {
  const raw = rawLedger(ledger);
  const index = resourceIndex(ledger, resource);
  return call(() => raw.testInjectHolder(index, units, pid, startTime));
}

/** @internal The raw addon handle under a HostLedger, e.g. to count the native calls it makes. */
export function rawHandle(ledger: HostLedger): RawHostLedger {
  return rawLedger(ledger);
}

/** @internal The HostLedger a HostBackend owns. */
export function backendLedger(backend: HostBackend): HostLedger {
  return (backend as unknown as { ledger: HostLedger }).ledger;
}

/** What native/host counts about how this process's grants reached JS (WakeStats in native/host/ledger.h). */
export interface HostWakeStats {
  /** Grants and notices picked up by an event loop woken directly by a datagram. */
  loopDeliveries: number;
  /** Grants and notices handed over by the waiter thread (futex, then ThreadSafeFunction). */
  threadDeliveries: number;
  /** Datagrams this process sent to a waiting loop. */
  directSends: number;
  /** Waiter threads this process woke through their futex word. */
  futexWakes: number;
  /** Dead processes reclaimed by this process's holder watcher. */
  watchReclaims: number;
  /** Liveness sweeps run by this process's waiter-thread poll. */
  pollSweeps: number;
}

/**
 * @internal This process's wake-up counters, over all its ledgers, so tests can tell which path
 * delivered a grant or reclaimed a dead holder by count rather than by time.
 */
export function wakeStats(): HostWakeStats {
  return (hostModule() as unknown as { wakeStats(): HostWakeStats }).wakeStats();
}
