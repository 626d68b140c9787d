// The GPUs one arbiter manages, as of the last monitor sample: each sample is turned into the
// figures the backend admits on (capacity and unaccounted use per GPU; lost GPUs closed), and
// into the per-GPU facts the arbiter reports (overuse, lost GPUs, ownership violations). Also the
// OOM cool-down, which closes a GPU in the backend for a while.
import { isGpuArbiterError } from '../errors';
import type { HolderView } from '../backends/contract';
import type { GpuDevice, GpuSnapshot } from '../gpu/types';
import { admitDeclared, admitDevice, declaredToDevice, type DeviceAdmission } from '../policy/admission';
import type { PlacementCandidate } from '../policy/placement';
import type { Lease, LeaseDevice, LeaseEnv } from './lease';
import { attributeToHolders } from './process-tree';
import type { ArbiterState } from './state';
import type { ManagedDevice } from './types';

const MiB = 1024 * 1024;

/** @internal */
export class DeviceBook {
  /** Sorted by index. */
  list: ManagedDevice[] = [];
  private candidateList: PlacementCandidate[] = [];
  /** GPUs in OOM cool-down (resource -> Date.now() when it ends). */
  private readonly coolingUntil = new Map<string, number>();
  /** GPU indices reported lost (alerted once per loss). */
  private readonly lostGpus = new Set<number>();
  /** -1 until the first sample: violations counted before this arbiter started are not alerted. */
  private ownershipViolationsSeen = -1;

  constructor(private readonly s: ArbiterState) {}

  byResource(resource: string): ManagedDevice | undefined {
    for (const d of this.list) if (d.resource === resource) return d;
    return undefined;
  }

  byIndex(index: number): ManagedDevice | undefined {
    for (const d of this.list) if (d.index === index) return d;
    return undefined;
  }

  /** Refreshes the per-device candidates in place from the backend's figures. */
  candidates(): PlacementCandidate[] {
    const backend = this.s.backend;
    for (const d of this.list) {
      const u = backend.usage(d.resource);
      const c = d.candidate;
      if (u === null) {
        c.usable = false;
        continue;
      }
      // A GPU cooling down after an OOM is closed in the backend but still takes waiters.
      const cooling = u.closed && this.cooling(d.resource);
      c.usable = d.admission.usable && (!u.closed || cooling);
      c.capacityMiB = u.capacity;
      c.budgetMiB = cooling ? 0 : u.capacity - u.external - u.declared;
      c.waiting = u.waiting;
      c.headPriority = u.headPriority;
    }
    return this.candidateList;
  }

  /**
   * Feeds one sample to the backend: capacity and unaccounted use per GPU, lost GPUs closed.
   * Runs under the arbiter's mutex only. Awaits the backend only where it returns a promise, so
   * with an in-process backend a sample is applied in one synchronous pass.
   */
  async reconcile(sample: GpuSnapshot): Promise<void> {
    const { backend, config } = this.s;
    if (backend.refresh !== undefined) {
      try {
        await backend.refresh();
      } catch (err) {
        // Unreachable: 'backend-down' said so already; the cached view stays (asOf tells its age).
        if (!isGpuArbiterError(err, 'E_BACKEND_UNAVAILABLE')) throw err;
      }
    }
    const wanted = config.devices;
    const holders = new Map<string, HolderView[]>();
    for (const r of backend.inspect().resources) holders.set(r.resource, r.holders);
    const seen = new Set<number>();
    const next: ManagedDevice[] = [];
    const visible = sample.available ? sample.devices : [];
    const listed = new Set(visible.map((g) => g.index));
    const declared = config.declaredDevices.filter((d) => !listed.has(d.index));
    for (const gpu of [...visible, ...declared.map(declaredToDevice)]) {
      if (wanted !== null && !wanted.includes(gpu.index)) continue;
      seen.add(gpu.index);
      const resource = this.s.resourceOf(gpu);
      const held = holders.get(resource) ?? [];
      // A holder's child processes spend its VRAM, not outside VRAM (process-tree.ts).
      const seenGpu = held.length === 0 ? gpu : attributeToHolders(gpu, new Set(held.map((h) => h.holder.pid)));
      const admission = listed.has(gpu.index)
        ? admitDevice(seenGpu, config.maxFraction, held)
        : admitDeclared(gpu.memory!.totalBytes / MiB, config.maxFraction);
      const prev = backend.usage(resource);
      // Unusable: keep the last known capacity so queued waiters are not turned into
      // E_DOES_NOT_FIT; `closed` stops new grants until the device is usable again.
      const spec = admission.usable
        ? { capacity: admission.capacityMiB!, external: admission.unaccountedMiB, closed: this.cooling(resource) }
        : { capacity: prev?.capacity ?? 0, external: prev?.external ?? 0, closed: true };
      const pending = backend.setResource(resource, spec);
      if (pending !== undefined) await pending;
      next.push(managed(gpu, resource, admission));
      this.checkOveruse(resource, gpu.index, admission);
      this.observeUse(resource, seenGpu);
    }
    await this.keepVanished(seen, wanted, holders, next);
    this.list = next.sort((a, b) => a.index - b.index);
    this.candidateList = this.list.map((d) => d.candidate);
    this.checkLostGpus(wanted);
    this.checkOwnership();
    // Requests waiting while no GPU is usable: nothing here will ever take them.
    if (this.s.inflight > 0 && !this.list.some((d) => d.admission.usable)) this.s.demand.note('*', 0, null, 'no-device', this.s.inflight);
    this.s.rebalance();
  }

  /**
   * A GPU that vanished from the sample, or that configure() took out of options.devices, takes
   * no new grants; it stays listed while it has holders or waiters. With a ledger shared by other
   * arbiters (host, redis), a GPU this arbiter merely stopped managing is not closed for them:
   * only this arbiter stops placing there.
   */
  private async keepVanished(seen: Set<number>, wanted: readonly number[] | null, holders: Map<string, HolderView[]>, next: ManagedDevice[]): Promise<void> {
    const backend = this.s.backend;
    const shared = backend.shared === true;
    for (const d of this.list) {
      if (seen.has(d.index)) continue;
      const prev = backend.usage(d.resource);
      const excluded = wanted !== null && !wanted.includes(d.index);
      if (!(excluded && shared)) {
        const pending = backend.setResource(d.resource, { capacity: prev?.capacity ?? 0, external: prev?.external ?? 0, closed: true });
        if (pending !== undefined) await pending;
      }
      let held = (holders.get(d.resource)?.length ?? 0) > 0;
      if (shared) {
        held = false; // other processes' holders do not keep it in this arbiter's list
        for (const l of this.s.leases) if (l.holds(d.resource)) held = true;
      }
      const busy = held || (prev?.waiting ?? 0) > 0;
      if (excluded && !busy) continue;
      next.push({
        ...d,
        admission: { ...d.admission, usable: false, reason: excluded ? 'not in options.devices' : 'not present' },
        present: false,
      });
    }
  }

  /** True while `resource` is in OOM cool-down (forgets cool-downs that ended). */
  cooling(resource: string): boolean {
    const until = this.coolingUntil.get(resource);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.coolingUntil.delete(resource);
    return false;
  }

  /** lease.release({ oom: true }): the lease's GPU takes no new grants for oomCooldownMs. */
  coolDown(lease: Lease): void {
    const ms = this.s.config.oomCooldownMs;
    if (ms === 0) return;
    const backend = this.s.backend;
    const resource = lease.grant.resource;
    const until = Date.now() + ms;
    this.coolingUntil.set(resource, until);
    const prev = backend.usage(resource);
    if (prev !== null) {
      const r = backend.setResource(resource, { capacity: prev.capacity, external: prev.external, closed: true });
      if (r !== undefined) r.catch((err: unknown) => this.s.warn(err));
    }
    this.s.events.emit('cooldown', { device: lease.device.index, resource, until, task: lease.task });
    // Reopen when it ends rather than at the next sample after it.
    setTimeout(() => this.s.resample(), ms + 1).unref();
  }

  /**
   * Records each lease's peak VRAM for the learner: where NVML lists a process that holds exactly
   * one lease of this arbiter on this GPU, its memory is that lease's.
   */
  private observeUse(resource: string, gpu: GpuDevice): void {
    if (gpu.processes === null || gpu.processes.length === 0) return;
    const byPid = new Map<number, Lease | null>(); // null: the process holds several leases here
    for (const l of this.s.leases) {
      if (l.holds(resource)) byPid.set(l.pid, byPid.has(l.pid) ? null : l);
    }
    if (byPid.size === 0) return;
    for (const p of gpu.processes) {
      const l = byPid.get(p.pid);
      if (l && p.usedBytes !== null) this.s.learner.observe(l, Math.ceil(p.usedBytes / MiB));
    }
  }

  /** Alerts once when a managed GPU stops being usable (NVML error, gone from the sample). */
  private checkLostGpus(wanted: readonly number[] | null): void {
    for (const d of this.list) {
      if (d.admission.usable) {
        this.lostGpus.delete(d.index);
        continue;
      }
      if (wanted !== null && !wanted.includes(d.index)) continue; // taken out by configure(), not lost
      if (d.admission.reason === 'not in options.devices' || this.lostGpus.has(d.index)) continue;
      this.lostGpus.add(d.index);
      this.s.alert({
        kind: 'gpu-lost',
        message: `GPU ${d.index} is not usable: ${d.admission.reason ?? 'unknown'}`,
        resource: d.resource,
        device: d.index,
        details: { reason: d.admission.reason },
      });
    }
  }

  /** Alerts on ownership violations counted by the backend since the last look. */
  private checkOwnership(): void {
    const n = this.s.backend.inspect().ownershipViolations;
    const seen = this.ownershipViolationsSeen;
    if (seen >= 0 && n > seen) {
      this.s.alert({
        kind: 'ownership-violation',
        message: `${n - seen} release(s) or renewal(s) of a lease this holder no longer owned`,
        details: { count: n - seen, total: n },
      });
    }
    this.ownershipViolationsSeen = n;
  }

  private checkOveruse(resource: string, index: number, admission: DeviceAdmission): void {
    for (const lease of this.s.leases) {
      if (!lease.holds(resource)) continue;
      const o = admission.overuse.find((x) => x.pid === lease.pid);
      if (o === undefined) {
        lease.overuse = false;
        continue;
      }
      if (lease.overuse) continue; // report the start of an overuse, not every sample of it
      lease.overuse = true;
      this.s.events.emit('overuse', { lease: lease.toJSON(), device: index, pid: o.pid, declaredMiB: o.declaredMiB, usedMiB: o.usedMiB });
      this.s.alert({
        kind: 'overuse',
        message: `Lease ${lease.id} (${lease.task}) pid ${o.pid} uses ${o.usedMiB} MiB on GPU ${index}, declared ${o.declaredMiB} MiB`,
        task: lease.task,
        leaseId: lease.id,
        label: lease.label,
        resource,
        device: index,
        details: { pid: o.pid, declaredMiB: o.declaredMiB, usedMiB: o.usedMiB },
      });
    }
  }
}

/** A sampled (or declared) GPU as the arbiter manages it. */
function managed(gpu: GpuDevice, resource: string, admission: DeviceAdmission): ManagedDevice {
  const info: LeaseDevice = { index: gpu.index, uuid: gpu.uuid, name: gpu.name };
  const env: LeaseEnv = Object.freeze({ CUDA_VISIBLE_DEVICES: gpu.uuid ?? String(gpu.index), CUDA_DEVICE_ORDER: 'PCI_BUS_ID' });
  const utilizationPercent = gpu.utilization?.gpuPercent ?? null;
  const candidate: PlacementCandidate = {
    index: gpu.index,
    usable: false,
    capacityMiB: 0,
    budgetMiB: 0,
    waiting: 0,
    headPriority: null,
    utilizationPercent,
  };
  return { index: gpu.index, resource, info, env, admission, utilizationPercent, present: true, candidate };
}
