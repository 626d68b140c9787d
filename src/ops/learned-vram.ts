// Learned VRAM: per task, the peak per-process VRAM (from NVML) of its recent leases. A task with
// `vramMiB: 'auto'` is admitted on a high percentile of what it really used, starting from its
// declared default; an out-of-memory release raises a floor under the estimate.

const KEEP = 100;
/** An OOM release sets the floor this much above what the task was admitted with (or used). */
const OOM_RAISE = 1.25;

/** @internal */
export class VramLearner {
  private readonly peaks = new Map<string, number[]>();
  private readonly floors = new Map<string, number>();

  /** Records one lease's peak use (MiB). */
  record(task: string, peakMiB: number): void {
    let list = this.peaks.get(task);
    if (list === undefined) this.peaks.set(task, (list = []));
    list.push(peakMiB);
    if (list.length > KEEP) list.shift();
  }

  /** An OOM: the task needs more than `admittedMiB` (and than `peakMiB` seen). */
  oom(task: string, admittedMiB: number, peakMiB: number): void {
    const raised = Math.ceil(Math.max(admittedMiB, peakMiB) * OOM_RAISE);
    this.floors.set(task, Math.max(this.floors.get(task) ?? 0, raised));
  }

  /** MiB to admit a task on: the `percentile` of its recorded peaks (default before any), never under an OOM floor. */
  estimate(task: string, percentile: number, defaultMiB: number): number {
    const list = this.peaks.get(task);
    let est = defaultMiB;
    if (list !== undefined && list.length > 0) {
      const sorted = [...list].sort((a, b) => a - b);
      est = sorted[Math.min(sorted.length - 1, Math.ceil((percentile / 100) * sorted.length) - 1)]!;
    }
    return Math.max(1, Math.ceil(Math.max(est, this.floors.get(task) ?? 0)));
  }

  /** Per task: samples, the current estimate inputs. */
  view(task: string): { samples: number; floorMiB: number | null } {
    return { samples: this.peaks.get(task)?.length ?? 0, floorMiB: this.floors.get(task) ?? null };
  }
}
