// An append-only JSON-lines log of critical failures (release failures, lost leases, GPU loss,
// ownership violations...). Writing it must never hurt the service: no throw, no unbounded
// memory, no blocking write on the event loop. A full disk or a bad path loses records, and the
// loss is counted, never thrown.
import * as fs from 'node:fs';

export interface CriticalRecord {
  /** Alert kind, e.g. 'lease-lost'. */
  kind: string;
  [key: string]: unknown;
}

export interface CriticalLogStats {
  written: number;
  /** Records lost: write errors (ENOSPC, EACCES...) or a full in-memory queue. */
  dropped: number;
  /** The last write error's code, e.g. 'ENOSPC'. */
  lastError: string | null;
}

/** Records waiting for the disk beyond this are dropped (a stuck disk must not grow the heap). */
const MAX_QUEUED = 1000;

export class CriticalLog {
  readonly path: string;
  private queue: string[] = [];
  private writing = false;
  private idle: Array<() => void> = [];
  private readonly stats: CriticalLogStats = { written: 0, dropped: 0, lastError: null };

  constructor(path: string) {
    this.path = path;
  }

  /** Queues one record; returns at once. Adds `time` (ISO) unless the record has one. */
  append(record: CriticalRecord): void {
    let line: string;
    try {
      line = `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`;
    } catch {
      line = `${JSON.stringify({ time: new Date().toISOString(), kind: record.kind, note: 'record not serialisable' })}\n`;
    }
    if (this.queue.length >= MAX_QUEUED) {
      this.stats.dropped++;
      return;
    }
    this.queue.push(line);
    if (!this.writing) void this.drain();
  }

  /** Resolves once every queued record has been written or dropped. */
  flush(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  getStats(): CriticalLogStats {
    return { ...this.stats };
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await fs.promises.appendFile(this.path, batch.join(''));
        this.stats.written += batch.length;
      } catch (err) {
        this.stats.dropped += batch.length;
        this.stats.lastError = (err as NodeJS.ErrnoException).code ?? String(err);
      }
    }
    this.writing = false;
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }
}
