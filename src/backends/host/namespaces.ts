// Host ledger namespaces: the files `/dev/shm/gpu-arbiter-<namespace>` (one ledger each), their
// names, and reading one without opening a handle (status tools).
import * as fs from 'node:fs';
import { fromNative, type RawHostView } from '../../native/addon';
import { invalid, knownKeys, optionsObject } from '../../util/validate';
import { hostModule, platformCheck } from './addon';
import { checkAccessOptions, type HostAccessOptions } from './access';
import { statusFromRaw, type HostLedgerStatus } from './view';

const SHM_DIR = '/dev/shm';
const PREFIX = 'gpu-arbiter-';
const NAMESPACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** @internal Checks a ledger namespace name; the message names `field`. */
export function validateNamespace(field: string, value: unknown): string {
  if (typeof value !== 'string' || !NAMESPACE_RE.test(value)) {
    throw invalid(field, 'a namespace of 1-100 letters, digits, "_", "." or "-" (not starting with "." or "-")', value);
  }
  return value;
}

/**
 * The same view as {@link HostLedger.inspect}, read without opening a handle: this process is
 * not registered in the ledger and no thread is started (for status tools). Holds show no
 * token (nothing in a view lets a reader release or revoke them). Fails with
 * `E_BACKEND_UNAVAILABLE` when the namespace has no ledger, an incompatible or corrupt one
 * (`details.reason`), and `E_LEDGER_UNTRUSTED` as {@link HostLedger.open} does (`trustOwner`
 * as there).
 */
export function inspectHostNamespace(namespace: string, options: Pick<HostAccessOptions, 'trustOwner'> = {}): HostLedgerStatus {
  validateNamespace('namespace', namespace);
  const opts = optionsObject<HostAccessOptions>('options', options);
  knownKeys('options', opts, ['trustOwner']);
  const { trustOwner } = checkAccessOptions('options', opts);
  const host = hostModule();
  let raw: RawHostView;
  try {
    raw = host.inspectNamespace(namespace, trustOwner);
  } catch (err) {
    throw fromNative(err);
  }
  return statusFromRaw(namespace, raw);
}

/** Namespaces with a ledger on this host (`/dev/shm/gpu-arbiter-*`); [] off Linux. */
export function listHostNamespaces(): string[] {
  if (process.platform !== 'linux') return [];
  let names: string[];
  try {
    names = fs.readdirSync(SHM_DIR);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(PREFIX) && n.length > PREFIX.length)
    .map((n) => n.slice(PREFIX.length))
    .sort();
}

/**
 * Removes a namespace's ledger file. Processes that have it open keep using their mapping
 * (and can no longer be reached by new ones): call it when nothing uses the namespace.
 * Returns false when there was nothing to remove.
 */
export function removeHostNamespace(namespace: string): boolean {
  validateNamespace('namespace', namespace);
  platformCheck();
  try {
    fs.unlinkSync(`${SHM_DIR}/${PREFIX}${namespace}`);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Path of a namespace's ledger file. */
export function hostNamespacePath(namespace: string): string {
  return `${SHM_DIR}/${PREFIX}${validateNamespace('namespace', namespace)}`;
}
