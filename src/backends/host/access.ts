// The trust model's options (docs/host-ledger.md, "Trust model"): how a ledger file this process
// creates is shared, and whose ledger files it opens. HostLedger.open(), HostBackend and
// inspectHostNamespace() take them; the checks refuse bad input naming the field.
import { integerInRange, invalid } from '../../util/validate';

/** uid_t / gid_t values a process can have ((uid_t)-1 means "none" to chown). */
const MAX_ID = 0xfffffffe;
const GROUP_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

/** Who may open a host ledger, and whose ledgers this process opens. */
export interface HostAccessOptions {
  /**
   * File mode of a ledger this call creates, whatever the umask: `0o600` (only this user's
   * processes can open it) or `0o660` (also the processes of `group`). A ledger that exists
   * already keeps the mode and group its creator gave it. See docs/host-ledger.md, "Trust model".
   * @default 0o600, or 0o660 when `group` is given
   */
  mode?: 0o600 | 0o660;
  /**
   * Share a ledger this call creates with a group: its gid or name (e.g. `'gpu'`); the mode is
   * then `0o660`. The creating process must be root or a member of the group. Every user of the
   * group is trusted as the owner is: whoever can open a ledger can take GPUs away from its users.
   */
  group?: number | string;
  /**
   * Owners (uids) whose ledger files this process opens besides its own user and root. Any other
   * owner is refused with `E_LEDGER_UNTRUSTED` (someone may be squatting the namespace).
   */
  trustOwner?: number | readonly number[];
}

/** @internal How a ledger file is shared and whose files are trusted, checked (the native Ledger's options). */
export interface CheckedAccess {
  mode: number;
  group: number | string | undefined;
  trustOwner: number[];
}

/** @internal The access options of a HostLedger (or HostBackend: `field` names its options object). */
export function checkAccessOptions(field: string, opts: HostAccessOptions): CheckedAccess {
  let group: number | string | undefined;
  if (typeof opts.group === 'string') {
    if (!GROUP_NAME_RE.test(opts.group)) throw invalid(`${field}.group`, 'a gid or a group name', opts.group);
    group = opts.group;
  } else if (opts.group !== undefined) {
    group = integerInRange(`${field}.group`, opts.group, 0, MAX_ID);
  }
  let mode = group === undefined ? 0o600 : 0o660;
  if (opts.mode !== undefined) {
    if (opts.mode !== 0o600 && opts.mode !== 0o660) throw invalid(`${field}.mode`, '0o600 or 0o660', opts.mode);
    if (opts.mode === 0o600 && group !== undefined) throw invalid(`${field}.mode`, '0o660 with a group', opts.mode);
    mode = opts.mode;
  }
  const owners: readonly unknown[] = opts.trustOwner === undefined ? [] : Array.isArray(opts.trustOwner) ? opts.trustOwner : [opts.trustOwner];
  const trustOwner = owners.map((uid, i) =>
    integerInRange(Array.isArray(opts.trustOwner) ? `${field}.trustOwner[${i}]` : `${field}.trustOwner`, uid, 0, MAX_ID),
  );
  return { mode, group, trustOwner };
}
