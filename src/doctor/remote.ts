// doctor checks beyond the GPU: the host ledgers can be read, and (with --redis URL) Redis is
// reachable, its version and cluster mode, and the clock skew between this host and Redis.
import { probeClient } from '../backends/redis/connection';
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
          fix: /There is no host ledger/.test(e.error.message)
            ? `no ledger ${e.namespace} on this host: check the name, or start an arbiter with backend 'host' and namespace '${e.namespace}'`
            : `check the permissions of /dev/shm/gpu-arbiter-${e.namespace} (every process sharing it needs read/write); ` +
              'when no process uses it, remove it (removeHostNamespace) and let the next arbiter create it',
        }
      : {
          id: `host-ledger.${e.namespace}`,
          verdict: 'PASS' as const,
          detail: `host ledger ${e.namespace} readable: ${e.status.resources.length} resource(s), ${e.status.holders.length} holder(s), ${e.status.waiters.length} waiter(s)`,
        },
  );
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
