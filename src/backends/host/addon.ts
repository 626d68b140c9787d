// The host ledger's way into the native addon (src/native/addon.ts, the one file that loads
// it): the Linux check and the addon's host module.
import { GpuArbiterError } from '../../errors';
import { addon, type RawHostModule } from '../../native/addon';

/** @internal E_UNSUPPORTED_PLATFORM off Linux: the ledger needs POSIX shm, robust mutexes, futexes. */
export function platformCheck(): void {
  if (process.platform !== 'linux') {
    throw new GpuArbiterError(
      'E_UNSUPPORTED_PLATFORM',
      `The host ledger needs Linux (POSIX shared memory, robust mutexes, futexes); this is ${process.platform}-${process.arch}`,
    );
  }
}

/** @internal The addon's host module (loads the addon on first use); its `codes` are the ledger's status codes. */
export function hostModule(): RawHostModule {
  platformCheck();
  return addon().host;
}
