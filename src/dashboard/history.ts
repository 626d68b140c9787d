// The charts' memory: one ChartPoint per tick for the last `historyMs`, kept by the server so a
// page opened now draws the last minutes at once (sent in its `hello` event), and the window of
// recent grant waits behind the wait-p95 line.
import type { ChartPoint, DashboardFrame } from './types';
import { percentile } from './vram';

export class ChartHistory {
  readonly #points: ChartPoint[] = [];
  // (time, wait) of grants in the last waitWindowMs: p95 over one tick alone would jump between
  // a few grants and none.
  #waits: Array<{ t: number; ms: number }> = [];
  #lastT: number | null = null;

  constructor(
    readonly historyMs: number,
    readonly waitWindowMs: number,
  ) {}

  /** Adds the point for `frame`, given the grants since the previous point. */
  add(frame: DashboardFrame, grants: { count: number; waitsMs: number[] }): ChartPoint {
    const t = frame.t;
    for (const ms of grants.waitsMs) this.#waits.push({ t, ms });
    this.#waits = this.#waits.filter((w) => w.t > t - this.waitWindowMs);
    // Rate over the real time since the previous point (ticks can be late under load).
    const seconds = this.#lastT === null ? 1 : Math.max(0.001, (t - this.#lastT) / 1000);
    this.#lastT = t;
    const point: ChartPoint = {
      t,
      vramMiB: Object.fromEntries(frame.gpus.map((g) => [g.id, g.usedMiB])),
      utilPercent: Object.fromEntries(frame.gpus.map((g) => [g.id, g.utilPercent])),
      queueLength: frame.gpus.reduce((sum, g) => sum + g.queue.length, 0),
      grantsPerSec: Math.round((grants.count / seconds) * 100) / 100,
      waitP95Ms: percentile(
        this.#waits.map((w) => w.ms),
        95,
      ),
    };
    this.#points.push(point);
    while (this.#points.length > 0 && this.#points[0]!.t < t - this.historyMs) this.#points.shift();
    return point;
  }

  points(): ChartPoint[] {
    return [...this.#points];
  }
}
