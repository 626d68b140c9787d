// Alerts: the things that need a human (or a pager), fanned out to the `onAlert` hook, the
// `alert` event and, optionally, the JSON-lines critical-failure log. Raising an alert never
// throws: a throwing hook is reported as a warning, and the log counts what it cannot write.
import { CriticalLog, type CriticalLogStats } from './critical-log';

export const AlertKinds = ['release-failed', 'ownership-violation', 'lease-lost', 'watchdog', 'gpu-lost', 'overuse', 'config-invalid'] as const;
export type AlertKind = (typeof AlertKinds)[number];

/** Passed to `onAlert` and written (one JSON object per line) to `criticalLog`. */
export interface Alert {
  kind: AlertKind;
  /** ISO time the alert was raised. */
  time: string;
  /** One line for a human. */
  message: string;
  task?: string | null;
  leaseId?: string | null;
  /** The job's label (AcquireOptions.label) where the alert is about one lease that has one. */
  label?: string | null;
  resource?: string | null;
  device?: number | null;
  /** Anything else about it (reason, MiB figures, error message...). */
  details?: Record<string, unknown>;
}

export type AlertInput = Omit<Alert, 'time'>;

/** @internal Fans alerts out; owned by the arbiter. */
export class Alerter {
  private readonly log: CriticalLog | null;
  private readonly counts = new Map<AlertKind, number>();

  constructor(
    private readonly hook: ((alert: Alert) => void) | null,
    logPath: string | null,
    private readonly emit: (alert: Alert) => void,
    private readonly warn: (err: unknown) => void,
  ) {
    this.log = logPath === null ? null : new CriticalLog(logPath);
  }

  raise(input: AlertInput): Alert {
    const alert: Alert = { time: new Date().toISOString(), ...input };
    this.counts.set(alert.kind, (this.counts.get(alert.kind) ?? 0) + 1);
    try {
      this.emit(alert);
    } catch (err) {
      this.warn(err);
    }
    if (this.hook !== null) {
      try {
        this.hook(alert);
      } catch (err) {
        this.warn(err);
      }
    }
    this.log?.append(alert as unknown as { kind: string });
    return alert;
  }

  /** Alerts raised so far, per kind. */
  totals(): Record<AlertKind, number> {
    return Object.fromEntries(AlertKinds.map((k) => [k, this.counts.get(k) ?? 0])) as Record<AlertKind, number>;
  }

  /** The critical log's counters (null without `criticalLog`). */
  logStats(): CriticalLogStats | null {
    return this.log?.getStats() ?? null;
  }

  /** Resolves once every queued log record has been written or dropped. */
  flush(): Promise<void> {
    return this.log?.flush() ?? Promise.resolve();
  }
}
