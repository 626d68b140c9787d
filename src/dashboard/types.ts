// What the dashboard page is sent (assets/dashboard/dashboard.js draws it): plain JSON built by a
// source (an arbiter in this process, this host's ledgers, or a Redis namespace) once a tick, and
// on changes. Unknown figures are null, never 0 (as in src/gpu/types.ts).
import type { Health } from '../observe/health';

/** One part of a GPU's VRAM bar, in MiB; the parts of a bar add up to the GPU's total. */
export interface VramSegment {
  /** holder: declared by one lease; outside: used by processes holding no lease (NVML); reserved: held back by maxFraction and the driver; free: still grantable. */
  kind: 'holder' | 'outside' | 'reserved' | 'free';
  mib: number;
  /** What the page writes on hover: "job 42 · ASR · pid 1234", "outside use (NVML)". */
  label: string;
}

export interface HolderRow {
  task: string;
  label: string | null;
  pid: number;
  vramMiB: number;
  heldMs: number;
}

export interface QueueRow {
  /** 0 = next to be granted. */
  position: number;
  task: string;
  label: string | null;
  pid: number;
  priority: number;
  vramMiB: number;
  waitedMs: number;
  /** Estimated ms until granted (recent hold times); null: no history yet. */
  etaMs: number | null;
}

/** One GPU (on Redis: one GPU of one node). */
export interface GpuPanel {
  /** Stable key for the charts: the ledger's resource name, or `nvml:<index>`. */
  id: string;
  /** The Redis node, or the host ledger namespace; null for an arbiter's own GPUs. */
  group: string | null;
  index: number;
  name: string | null;
  usable: boolean;
  /** Why not usable (NVML's return name, CLOSED...). */
  reason: string | null;
  totalMiB: number | null;
  /** VRAM in use as the bar shows it (holders + outside + driver-reserved): what the VRAM chart plots. */
  usedMiB: number | null;
  segments: VramSegment[];
  utilPercent: number | null;
  temperatureC: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  holders: HolderRow[];
  queue: QueueRow[];
}

/** One point of the charts (one per tick). */
export interface ChartPoint {
  t: number;
  /** Per GpuPanel.id. */
  vramMiB: Record<string, number | null>;
  utilPercent: Record<string, number | null>;
  queueLength: number;
  grantsPerSec: number;
  /** p95 of the waits of the grants in the last `waitWindowMs`; null: no grant then. */
  waitP95Ms: number | null;
}

export interface DashboardFrame {
  t: number;
  title: string;
  /** What is shown: 'arbiter', 'host', 'redis'. */
  source: string;
  gpus: GpuPanel[];
  /** arbiter.health() for an arbiter; null where the source has no such verdict. */
  health: Health | null;
  /** Things to say above the GPUs (NVML not available, a ledger unreadable, Redis down). */
  notes: string[];
}

/** An alert as the page lists it (an arbiter's `alert` event, or one a polling source infers). */
export interface DashboardAlert {
  time: string;
  kind: string;
  message: string;
}

/** Where the frames come from. `frame()` may read Redis or shared memory; errors become notes. */
export interface DashboardSource {
  frame(): Promise<DashboardFrame> | DashboardFrame;
  /** Grants since the last call, and the waits (ms) of those whose wait is known (for grants/s and wait p95). */
  takeGrants(): { count: number; waitsMs: number[] };
  /** Calls `changed` when a frame is worth sending before the next tick, `alert` per alert; returns the unsubscribe. */
  subscribe?(changed: () => void, alert: (a: DashboardAlert) => void): () => void;
  /** Releases what the source opened (a Redis connection); the hub calls it once on close. */
  close?(): Promise<void>;
}
