// A GPU's VRAM bar from the figures every source has: total, the ledger's capacity (total *
// maxFraction, src/policy/admission.ts), outside use (the ledger's `external`: what NVML shows
// that no lease declared) and the holders' declared MiB. The driver-reserved share NVML reports
// (src/gpu/types.ts: counted in used, so in outside use) is moved from outside to reserved.
import type { VramSegment } from './types';

export interface VramFigures {
  totalMiB: number;
  /** null: no ledger figure (NVML only): everything used is outside use. */
  capacityMiB: number | null;
  outsideMiB: number;
  driverReservedMiB: number;
  holders: Array<{ mib: number; label: string }>;
}

/** The bar's parts, holders first; they add up to totalMiB unless the GPU is over-committed. */
export function vramSegments(f: VramFigures): VramSegment[] {
  const capacity = f.capacityMiB ?? f.totalMiB;
  const driver = Math.min(Math.max(0, f.driverReservedMiB), Math.max(0, f.outsideMiB));
  const outside = Math.max(0, f.outsideMiB - driver);
  const declared = f.holders.reduce((sum, h) => sum + h.mib, 0);
  const segments: VramSegment[] = f.holders.map((h) => ({ kind: 'holder', mib: h.mib, label: h.label }));
  if (outside > 0) segments.push({ kind: 'outside', mib: outside, label: 'outside use (NVML: processes holding no lease)' });
  const reserved = Math.max(0, f.totalMiB - capacity) + driver;
  if (reserved > 0) segments.push({ kind: 'reserved', mib: reserved, label: 'reserved (maxFraction headroom and driver)' });
  const free = capacity - declared - outside - driver;
  if (free > 0) segments.push({ kind: 'free', mib: free, label: 'free budget' });
  return segments;
}

/** "job 42 · ASR · pid 1234": what a holder's part of the bar says. */
export function holderLabel(h: { label: string | null; task: string; pid: number }): string {
  return [h.label, h.task, `pid ${h.pid}`].filter((x) => x !== null && x !== '').join(' · ');
}

/** A sorted copy's p-th percentile (nearest rank); null for no values. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
