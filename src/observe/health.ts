// arbiter.health(): one verdict for liveness/readiness probes, built from plain facts the arbiter
// already keeps (no I/O, no await: a probe must answer even when Redis or NVML hangs).

export type HealthStatus = 'ok' | 'degraded' | 'down';

export interface HealthCheck {
  /** 'arbiter', 'gpus', 'backend', 'renewals', 'releases', 'watchdog', 'critical-log'. */
  name: string;
  status: HealthStatus;
  detail: string;
}

export interface Health {
  /** The worst of the checks: 'down' fails readiness and liveness, 'degraded' still serves. */
  status: HealthStatus;
  checks: HealthCheck[];
}

/** @internal What health() is computed from. */
export interface HealthFacts {
  closed: boolean;
  /** Managed GPUs: index, usable, and why not. */
  gpus: Array<{ index: number; usable: boolean; reason: string | null }>;
  /** The GPU monitor's state: with no GPU, its reason is what a probe's reader needs. */
  nvml?: { available: boolean; reason: string | null };
  /** null: the backend has no notion of reachability (local, host). */
  backendAvailable: boolean | null;
  /** true when acquire() still admits while the ledger is away (onBackendError 'host'). */
  hasFallback: boolean;
  backendKind: string;
  /** Date.now() of the last renewal failure / release failure, or null. */
  lastRenewalFailureAt: number | null;
  lastReleaseFailureAt: number | null;
  /** Current holds whose watchdog fired. */
  watchdogFiring: Array<{ leaseId: string; task: string }>;
  criticalLog: { dropped: number; lastError: string | null } | null;
  now: number;
  /** How long a renewal or release failure keeps its check degraded. */
  recentMs: number;
}

const RANK: Record<HealthStatus, number> = { ok: 0, degraded: 1, down: 2 };

function noGpuDetail(nvml: HealthFacts['nvml']): string {
  if (nvml === undefined) return 'no GPU to admit on';
  if (!nvml.available) return `no GPU to admit on: NVML not available: ${nvml.reason ?? 'unknown reason'}`;
  return 'no GPU to admit on: NVML sees none (or options.devices names none it sees)';
}

/** @internal The health verdict from the facts the arbiter hands in. */
export function computeHealth(f: HealthFacts): Health {
  const checks: HealthCheck[] = [];
  checks.push(f.closed ? { name: 'arbiter', status: 'down', detail: 'closed' } : { name: 'arbiter', status: 'ok', detail: 'open' });

  const lost = f.gpus.filter((g) => !g.usable);
  if (f.gpus.length === 0) checks.push({ name: 'gpus', status: 'down', detail: noGpuDetail(f.nvml) });
  else if (lost.length === f.gpus.length) {
    checks.push({ name: 'gpus', status: 'down', detail: `every GPU unusable: ${lost.map((g) => `${g.index} (${g.reason})`).join(', ')}` });
  } else if (lost.length > 0) {
    checks.push({
      name: 'gpus',
      status: 'degraded',
      detail: `${lost.length} of ${f.gpus.length} GPUs unusable: ${lost.map((g) => `${g.index} (${g.reason})`).join(', ')}`,
    });
  } else checks.push({ name: 'gpus', status: 'ok', detail: `${f.gpus.length} GPU(s) usable` });

  if (f.backendAvailable === false) {
    checks.push({
      name: 'backend',
      status: f.hasFallback ? 'degraded' : 'down',
      detail: f.hasFallback ? `${f.backendKind} unreachable; admitting on the host fallback` : `${f.backendKind} unreachable`,
    });
  } else checks.push({ name: 'backend', status: 'ok', detail: `${f.backendKind} reachable` });

  const recent = (at: number | null): boolean => at !== null && f.now - at < f.recentMs;
  checks.push(
    recent(f.lastRenewalFailureAt)
      ? { name: 'renewals', status: 'degraded', detail: `a lease renewal failed ${f.now - f.lastRenewalFailureAt!} ms ago` }
      : { name: 'renewals', status: 'ok', detail: 'no recent renewal failure' },
  );
  checks.push(
    recent(f.lastReleaseFailureAt)
      ? { name: 'releases', status: 'degraded', detail: `a release failed ${f.now - f.lastReleaseFailureAt!} ms ago` }
      : { name: 'releases', status: 'ok', detail: 'no recent release failure' },
  );
  checks.push(
    f.watchdogFiring.length > 0
      ? {
          name: 'watchdog',
          status: 'degraded',
          detail: `held past holdMaxMs: ${f.watchdogFiring.map((w) => `${w.leaseId} (${w.task})`).join(', ')}`,
        }
      : { name: 'watchdog', status: 'ok', detail: 'no hold past holdMaxMs' },
  );
  if (f.criticalLog !== null) {
    checks.push(
      f.criticalLog.dropped > 0
        ? { name: 'critical-log', status: 'degraded', detail: `${f.criticalLog.dropped} record(s) lost (${f.criticalLog.lastError})` }
        : { name: 'critical-log', status: 'ok', detail: 'writing' },
    );
  }
  let status: HealthStatus = 'ok';
  for (const c of checks) if (RANK[c.status] > RANK[status]) status = c.status;
  return { status, checks };
}
