// All-or-nothing requests of a HostLedger handle (HostLedger.acquireSet): the one trip down to
// the ledger (native/host/ledger_gang.cc), and the grant, which arrives from the waiter thread as
// one onGrant call per member: collected until the set is whole, so the request resolves once,
// with every hold, in the order it asked for them.
import type { GpuArbiterError } from '../../errors';
import type { RawHostCodes, RawHostLedger } from '../../native/addon';
import { invalid } from '../../util/validate';
import type { HostGrant } from './grant';
import { abortError, quietly } from './ledger-errors';
import { validateResourceName } from './options';
import type { QueuedRequests } from './queued';

/** One member's hold as the ledger made it. */
export interface SetPart {
  resource: number;
  slot: number;
  hi: number;
  lo: number;
  fence: number;
}

/** The most resources one all-or-nothing request takes (kMaxGang, native/host/ledger_layout.h). */
export const MAX_SET = 16;

/** Parts of set grants still arriving, by request id. */
class SetParts {
  readonly #pending = new Map<number, SetPart[]>();

  /** Adds one member; returns every part once `gang` have come, else undefined. */
  add(request: number, gang: number, part: SetPart): SetPart[] | undefined {
    const parts = this.#pending.get(request) ?? [];
    parts.push(part);
    if (parts.length < gang) {
      this.#pending.set(request, parts);
      return undefined;
    }
    this.#pending.delete(request);
    return parts;
  }
}

/** @internal `parts` in the order of `indices` (the resources as asked). */
export function inAskedOrder(parts: readonly SetPart[], indices: readonly number[]): SetPart[] {
  return indices.map((r) => {
    const p = parts.find((x) => x.resource === r);
    if (p === undefined) throw new Error(`set grant without resource ${r}`); // the ledger grants every member
    return p;
  });
}

/** @internal Checks acquireSet()'s resources: 2..MAX_SET valid names, each once. */
export function checkSetResources(resources: unknown): string[] {
  if (!Array.isArray(resources) || resources.length < 2 || resources.length > MAX_SET) {
    throw invalid('resources', `an array of 2 to ${MAX_SET} resource names`, resources);
  }
  const names = resources.map((r, i) => validateResourceName(`resources[${i}]`, r));
  if (new Set(names).size !== names.length) throw invalid('resources', 'resource names without repeats', resources);
  return names;
}

/** @internal What a request (one resource, or a set) reaches the ledger with, validated by HostLedger or the backend. */
export interface SetAcquire {
  units: number;
  priority: number;
  label: string;
  /** false: grant now or answer null (busy); true: grant now or queue. */
  queue: boolean;
  /** The ledger revokes the hold ('expired') once it is this old; 0: never. */
  revokeAfterMs: number;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
}

/** @internal The parts of its HostLedger a SetRequests uses. */
export interface SetLedgerDoor {
  raw: RawHostLedger;
  codes: RawHostCodes;
  queued: QueuedRequests;
  call<T>(fn: () => T): T;
  index(name: string): number;
  grant(resource: string, units: number, priority: number, slot: number, hi: number, lo: number, fence: number): HostGrant;
  failure(code: number, resource: string, index: number, units: number): GpuArbiterError;
  capacity(resource: string, index: number): string;
  closed(): boolean;
}

/** @internal One handle's all-or-nothing requests (see the file comment). */
export class SetRequests {
  readonly #parts = new SetParts();

  constructor(private readonly l: SetLedgerDoor) {}

  /** Every grant (in the order asked), null (busy; queue false only), or the promise of them. */
  acquire(names: string[], c: SetAcquire): HostGrant[] | Promise<HostGrant[]> | null {
    const { l } = this;
    const indices = names.map((n) => l.index(n));
    const out = l.call(() => l.raw.acquireSet(indices, c.units, c.priority, c.queue, c.label, c.revokeAfterMs));
    const { GRANTED, QUEUED, BUSY } = l.codes.acquire;
    const code = out[0]!;
    if (code === GRANTED) {
      const parts: SetPart[] = [];
      for (let k = 3; k + 4 < out.length; k += 5) parts.push({ resource: out[k]!, slot: out[k + 1]!, hi: out[k + 2]!, lo: out[k + 3]!, fence: out[k + 4]! });
      return this.#grants(names, indices, c.units, c.priority, parts);
    }
    if (code === BUSY) return null;
    const shown = names.join(' + ');
    if (code !== QUEUED) {
      const at = Math.max(
        0,
        names.findIndex((n, k) => Number(l.capacity(n, indices[k]!)) < c.units),
      );
      throw l.failure(code, names[at]!, indices[at]!, c.units);
    }
    return l.queued.wait<HostGrant[]>(out[2]!, out[1]!, { resource: shown, ...c, set: { names, indices } }, () => abortError(shown, c.signal!));
  }

  /** JS thread: one member of a set grant; the request resolves once all have come. */
  onGrant(request: number, gang: number, part: SetPart): void {
    const parts = this.#parts.add(request, gang, part);
    if (parts === undefined) return;
    const p = this.l.queued.take(request);
    if (p?.set === undefined) {
      // Its waiter gave up while the grant was in flight: give every hold back.
      if (!this.l.closed()) for (const x of parts) quietly(() => this.l.raw.release(x.slot, x.hi, x.lo));
      return;
    }
    p.resolve(this.#grants(p.set.names, p.set.indices, p.units, p.priority, parts));
  }

  #grants(names: string[], indices: number[], units: number, priority: number, parts: readonly SetPart[]): HostGrant[] {
    return inAskedOrder(parts, indices).map((p, k) => this.l.grant(names[k]!, units, priority, p.slot, p.hi, p.lo, p.fence));
  }
}
