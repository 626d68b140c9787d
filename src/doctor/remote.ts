// doctor checks beyond the GPU: the host ledgers can be read, and (with --redis URL) Redis is
// reachable, its version and cluster mode, and the clock skew between this host and Redis.
import { probeClient } from '../backends/redis/connection';
import type { GpuArbiterError } from '../errors';
import type { CheckResult } from './types';
import { readHostLedgers } from '../backends/host/status';

/** One check per host ledger: readable (PASS) or not (FAIL, with the fix). */
export async function hostLedgerChecks(namespaces?: string[]): Promise<CheckResult[]> {
  const list = await readHostLedgers(namespaces);
  if (list.length === 0) return [{ id: 'host-ledger', verdict: 'PASS', detail: 'no host ledger on this host yet' }];
  return list.map((e) =>
    'error' in e
      ? {
          id: `host-ledger.${e.namespace}`,
          verdict: 'FAIL' as const,
          detail: `host ledger ${e.namespace} is not readable: ${e.error.code}: ${e.error.message}`,
          fix: hostLedgerFix(e.namespace, e.error),
        }
      : {
          id: `host-ledger.${e.namespace}`,
          verdict: 'PASS' as const,
          detail: `host ledger ${e.namespace} readable: ${e.status.resources.length} resource(s), ${e.status.holders.length} holder(s), ${e.status.waiters.length} waiter(s)`,
        },
  );
}

// What to do about a host ledger that cannot be read, by why (GpuArbiterError code and
// details.reason, see HostLedger.open()).
function hostLedgerFix(ns: string, error: GpuArbiterError): string {
  const file = `/dev/shm/gpu-arbiter-${ns}`;
  const remove = `remove it once no process uses it: rm ${file} (or node -e "require('gpu-arbiter').removeHostNamespace('${ns}')"); the next arbiter creates a new one`;
  if (/There is no host ledger/.test(error.message)) {
    return `no ledger ${ns} on this host: check the name, or start an arbiter with backend 'host' and namespace '${ns}'`;
  }
  if (error.code === 'E_LEDGER_UNTRUSTED') {
    return `${file} belongs to a user this process does not trust, or is open to every user: if you do not know that user, ${remove}; if it is a service you share GPUs with, pass its uid as trustOwner`;
  }
  switch (error.details.reason) {
    case 'corrupt':
      return `the ledger is corrupt: ${remove}`;
    case 'incompatible':
      return `the file is not a ledger of this gpu-arbiter version: upgrade every process sharing namespace ${ns} to one version, or ${remove}`;
    case 'lock-timeout':
      return `a process is stopped or hung inside the ledger's lock (gpu-arbiter status lists its processes): resume or kill it; if the ledger stays stuck, ${remove}`;
    default:
      return `check the owner, group and mode of ${file} (every process sharing it needs read/write: create it with { group, mode: 0o660 } to share it); when no process uses it, ${remove}`;
  }
}

export interface RedisCheckOptions {
  url: string;
  /** @default 3000 */
  timeoutMs?: number;
  /** Skew above this warns. @default 1000 */
  skewWarnMs?: number;
  /** This host's clock (tests shift it). @default Date.now */
  now?: () => number;
}

/** Reachability, version and cluster mode, then the clock skew (from TIME, corrected by half the round trip). */
export async function redisChecks(o: RedisCheckOptions): Promise<CheckResult[]> {
  const timeoutMs = o.timeoutMs ?? 3000;
  const now = o.now ?? Date.now;
  const shown = o.url.replace(/\/\/[^@/]*@/, '//***@'); // never print a password
  const client = probeClient(o.url, timeoutMs);
  let lastError: Error | null = null;
  client.on('error', (err: Error) => (lastError = err));
  try {
    let info: string;
    try {
      await client.connect();
      await client.ping();
      info = await client.info();
    } catch (err) {
      return [
        {
          id: 'redis',
          verdict: 'FAIL',
          detail: `Redis at ${shown} not reachable: ${(lastError ?? (err as Error)).message}`,
          fix: 'check the URL, that redis-server runs and listens on that address, firewalls and the password (redis://:password@host:6379)',
        },
      ];
    }
    const field = (name: string): string | null => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? null;
    const version = field('redis_version') ?? 'unknown';
    const cluster = field('cluster_enabled') === '1';
    const major = Number(version.split('.')[0]);
    const out: CheckResult[] = [];
    out.push(
      Number.isFinite(major) && major < 6
        ? {
            id: 'redis',
            verdict: 'WARN',
            detail: `Redis ${version} at ${shown} (${cluster ? 'cluster mode' : 'standalone'}): older than 6`,
            fix: 'upgrade to Redis 6.2 or later (the lease scripts are tested on 6.2+)',
          }
        : { id: 'redis', verdict: 'PASS', detail: `Redis ${version} at ${shown}, ${cluster ? 'cluster mode (give { cluster: seeds })' : 'standalone'}` },
    );
    const t0 = now();
    const [sec, usec] = (await client.time()) as [string | number, string | number];
    const t1 = now();
    const serverMs = Number(sec) * 1000 + Number(usec) / 1000;
    const rtt = t1 - t0;
    const skew = Math.round(serverMs - (t0 + rtt / 2));
    const warnAt = o.skewWarnMs ?? 1000;
    out.push(
      Math.abs(skew) > warnAt
        ? {
            id: 'redis.clock-skew',
            verdict: 'WARN',
            detail: `this host's clock is ${Math.abs(skew)} ms ${skew > 0 ? 'behind' : 'ahead of'} Redis's (round trip ${rtt} ms)`,
            fix: 'sync both clocks with NTP (chrony/timedatectl); lease TTLs run on Redis time, but deadlines, logs and ETA are read on this host',
          }
        : { id: 'redis.clock-skew', verdict: 'PASS', detail: `clock skew to Redis ${skew} ms (round trip ${rtt} ms)` },
    );
    return out;
  } finally {
    client.disconnect();
  }
}
