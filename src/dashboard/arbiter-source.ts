// Frames from a GpuArbiter of this process (arbiter.dashboardHandler(), `gpu-arbiter demo
// --dashboard`): its snapshot() (devices, holders, queues with ETA), health(), the monitor's last
// sample (temperature, power, driver-reserved memory) and its events, so a grant or a release
// reaches the page at once. The arbiter is read through a structural shape: src/arbiter/gpu-arbiter.ts
// imports this folder, never the other way round (docs/design.md, "Import rules").
import type { EventEmitter } from 'node:events';
import type { ArbiterSnapshot } from '../arbiter/snapshot';
import type { GpuSnapshot } from '../gpu/types';
import type { Health } from '../observe/health';
import type { DashboardFrame, DashboardSource, GpuPanel } from './types';
import { holderLabel, vramSegments } from './vram';

const MiB = 1024 * 1024;

// EventEmitter's own listener type, so an arbiter (an EventEmitter) fits ArbiterLike as it is.
type Listener = Parameters<EventEmitter['on']>[1];

/** What the dashboard reads of an arbiter. */
export interface ArbiterLike {
  snapshot(): ArbiterSnapshot;
  health(): Health;
  on(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
}

// Events after which the page should not wait for the next tick.
const CHANGES = ['acquired', 'released', 'waiting', 'skipped', 'fell-back', 'timeout', 'lease-lost', 'cooldown', 'watchdog', 'overuse'];

export function arbiterSource(arbiter: ArbiterLike, gpu: () => GpuSnapshot, title: string | undefined): DashboardSource {
  let grants = 0;
  let waits: number[] = [];
  const onAcquired = (lease: { waitedMs: number }): void => {
    grants++;
    waits.push(lease.waitedMs);
  };
  // Counted from creation, not only while subscribed: the charts cover the time before a page opened.
  arbiter.on('acquired', onAcquired);
  return {
    frame: () => arbiterFrame(arbiter.snapshot(), gpu(), arbiter.health(), title),
    takeGrants() {
      const taken = { count: grants, waitsMs: waits };
      grants = 0;
      waits = [];
      return taken;
    },
    subscribe(changed, alert) {
      const onAlert = (a: { time: string; kind: string; message: string }): void => alert({ time: a.time, kind: a.kind, message: a.message });
      for (const e of CHANGES) arbiter.on(e, changed);
      arbiter.on('alert', onAlert);
      return () => {
        for (const e of CHANGES) arbiter.off(e, changed);
        arbiter.off('alert', onAlert);
      };
    },
    async close() {
      arbiter.off('acquired', onAcquired);
    },
  };
}

/** @internal One frame from an arbiter's snapshot (exported for tests). */
export function arbiterFrame(snap: ArbiterSnapshot, sample: GpuSnapshot, health: Health, title: string | undefined): DashboardFrame {
  const gpus: GpuPanel[] = snap.devices.map((d) => {
    const nvml = sample.devices.find((x) => x.index === d.index) ?? null;
    const holders = snap.holders.filter((h) => h.device === d.index);
    const queue = snap.queues.filter((q) => q.device === d.index).flatMap((q) => q.waiters);
    const driverReservedMiB = nvml?.memory?.reservedBytes == null ? 0 : Math.round(nvml.memory.reservedBytes / MiB);
    return {
      id: `gpu:${d.index}`,
      group: null,
      index: d.index,
      name: d.name,
      usable: d.usable,
      reason: d.reason,
      totalMiB: d.totalMiB,
      usedMiB: d.totalMiB === null ? null : d.declaredMiB + d.unaccountedMiB,
      segments:
        d.totalMiB === null
          ? []
          : vramSegments({
              totalMiB: d.totalMiB,
              capacityMiB: d.capacityMiB,
              outsideMiB: d.unaccountedMiB,
              driverReservedMiB,
              holders: holders.map((h) => ({ mib: h.vramMiB, label: holderLabel(h) })),
            }),
      utilPercent: d.utilizationPercent,
      temperatureC: nvml?.temperatureC ?? null,
      powerW: nvml?.powerW ?? null,
      powerLimitW: nvml?.powerLimitW ?? null,
      holders: holders.map((h) => ({ task: h.task, label: h.label, pid: h.pid, vramMiB: h.vramMiB, heldMs: h.heldMs })),
      queue: queue.map((w) => ({
        position: w.position,
        task: w.task,
        label: w.label,
        pid: w.pid,
        priority: w.priority,
        vramMiB: w.vramMiB,
        waitedMs: w.waitedMs,
        etaMs: w.etaMs ?? null,
      })),
    };
  });
  const notes = snap.gpu.available ? [] : [`NVML not available: ${snap.gpu.unavailableReason ?? 'unknown reason'}`];
  return { t: snap.takenAt, title: title ?? `gpu-arbiter · ${snap.backend} backend · pid ${process.pid}`, source: 'arbiter', gpus, health, notes };
}
