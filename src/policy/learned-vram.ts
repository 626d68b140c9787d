// Learned VRAM: for tasks declared with `vramMiB: 'auto'`, admission uses a high percentile of
// what the task really used (its peak per lease, seen through NVML's per-process memory),
// starting from the declared default. An OOM raises the estimate at once.
//
// Peaks are attributed only where a process holds exactly one lease on a GPU: NVML reports
// memory per process, and splitting one process's use between its leases would be a guess.

/** Tuning of the learner; the defaults suit inference services with a steady working set. */
export interface VramLearningOptions {
  /** Percentile of recent peaks to admit on (0-1). @default 0.95 */
  percentile?: number;
  /** Peaks kept per task. @default 50 */
  window?: number;
  /** Peaks needed before the percentile replaces the declared default. @default 5 */
  minSamples?: number;
  /** Margin on top of the percentile. @default 0.1 (10%) */
  headroom?: number;
  /** After an OOM the estimate becomes at least this times what the lease had. @default 1.5 */
  oomFactor?: number;
}

export interface TaskVramEstimate {
  task: string;
  /** What admission asks for now, in MiB. */
  estimateMiB: number;
  /** The declared starting figure. */
  defaultMiB: number;
  /** Peaks recorded (at most `window`). */
  samples: number;
  /** Floor set by OOMs (0 when none). */
  oomFloorMiB: number;
}

interface TaskState {
  peaks: number[];
  oomFloorMiB: number;
}

export class VramLearner {
  private readonly percentile: number;
  private readonly window: number;
  private readonly minSamples: number;
  private readonly headroom: number;
  private readonly oomFactor: number;
  private readonly tasks = new Map<string, TaskState>();
  /** Peak MiB seen per live lease (keyed by the lease object: building an id string per release costs). */
  private readonly peaks = new Map<object, number>();

  constructor(options: VramLearningOptions = {}) {
    this.percentile = options.percentile ?? 0.95;
    this.window = options.window ?? 50;
    this.minSamples = options.minSamples ?? 5;
    this.headroom = options.headroom ?? 0.1;
    this.oomFactor = options.oomFactor ?? 1.5;
  }

  /** What to admit a task on, in MiB, given its declared default. */
  estimate(task: string, defaultMiB: number): number {
    const t = this.tasks.get(task);
    if (t === undefined) return defaultMiB;
    let base = defaultMiB;
    if (t.peaks.length >= this.minSamples) {
      const sorted = [...t.peaks].sort((a, b) => a - b);
      const p = sorted[Math.min(sorted.length - 1, Math.ceil(this.percentile * sorted.length) - 1)]!;
      base = Math.ceil(p * (1 + this.headroom));
    }
    return Math.max(base, t.oomFloorMiB);
  }

  /** A sample saw the lease's process using `usedMiB` (keeps the peak). */
  observe(lease: object, usedMiB: number): void {
    const prev = this.peaks.get(lease);
    if (prev === undefined || usedMiB > prev) this.peaks.set(lease, usedMiB);
  }

  /** The lease ended: its peak, if one was seen, joins the task's history. */
  finish(lease: object, task: string): void {
    if (this.peaks.size === 0) return; // the common case on the release hot path
    const peak = this.peaks.get(lease);
    if (peak === undefined) return;
    this.peaks.delete(lease);
    const t = this.state(task);
    t.peaks.push(peak);
    if (t.peaks.length > this.window) t.peaks.shift();
  }

  /** The lease ran out of GPU memory holding `heldMiB`: never admit the task on less again. */
  oom(task: string, heldMiB: number): void {
    const t = this.state(task);
    t.oomFloorMiB = Math.max(t.oomFloorMiB, Math.ceil(heldMiB * this.oomFactor));
  }

  /** Plain data for snapshots. */
  snapshot(defaults: ReadonlyMap<string, number>): TaskVramEstimate[] {
    return [...defaults].map(([task, defaultMiB]) => ({
      task,
      defaultMiB,
      estimateMiB: this.estimate(task, defaultMiB),
      samples: this.tasks.get(task)?.peaks.length ?? 0,
      oomFloorMiB: this.tasks.get(task)?.oomFloorMiB ?? 0,
    }));
  }

  private state(task: string): TaskState {
    let t = this.tasks.get(task);
    if (t === undefined) {
      t = { peaks: [], oomFloorMiB: 0 };
      this.tasks.set(task, t);
    }
    return t;
  }
}
