// The cluster-scope requests of this process (RedisLeases.acquirePool): any live node's GPUs
// that fit, placed by Redis (./lua/pool-acquire.ts). Each is one waiter here that calls
// POOL_ACQUIRE as its request, its heartbeat and its poll. Redis wakes it ('e|id|0' on the
// wake-up channel) when it should place the queue: GPU units were freed, a node registered, or
// a call of another process granted it (then this call confirms the grant). Once granted, each
// GPU is a lease of its own (token `<id>.<k>` on `<nodeId>/gpu<i>`), held, renewed and released
// like any other; giving up sends POOL_LEAVE, which also gives back a grant made meanwhile.
// The rules for late replies are those of ./waiters.ts: never hand out a grant already lost.
import { performance } from 'node:perf_hooks';
import { GpuArbiterError } from '../../errors';
import type { NodeGpu } from '../cluster';
import { CallWaiters, type CallWaiting } from './call-waiters';
import { unavailable } from './connection';
import type { LeasesCore } from './core';
import { poolKeyList } from './keys';
import type { CheckedPoolRequest } from './pool-request';
import type { PoolNode, RedisPoolGrant } from './pool-types';
import { parseJson, timeoutError } from './replies';
import type { Releases } from './release';
import { SCRIPTS } from './scripts';
import type { HeldLeases } from './held';

interface PoolWaiting extends CallWaiting<RedisPoolGrant> {
  p: CheckedPoolRequest;
}

export class PoolWaiters extends CallWaiters<PoolWaiting, RedisPoolGrant> {
  constructor(
    core: LeasesCore,
    private readonly held: HeldLeases,
    private readonly releases: Releases,
  ) {
    super(core);
  }

  enqueue(p: CheckedPoolRequest): Promise<RedisPoolGrant> {
    return this.start(p.req, (base) => ({ ...base, p }));
  }

  /** Redis woke waiter `id`: place the queue now (or confirm a grant made to it). */
  onWake(id: string): void {
    const w = this.waiting.get(id);
    if (!w || w.settled) return;
    if (w.inFlight) w.again = true;
    else this.schedulePoll(w, 0, true);
  }

  protected leave(w: PoolWaiting): Promise<unknown> {
    return this.releases.leavePool(w.id);
  }

  protected async poll(w: PoolWaiting, first: boolean, placeNow: boolean): Promise<void> {
    if (w.settled || w.inFlight) return;
    w.inFlight = true;
    const { req } = w;
    const { leaseTtlMs, waiterTtlMs, pollMs, namespace } = this.core.config;
    const sentAt = performance.now();
    const remaining = req.deadline === undefined ? -1 : Math.max(0, Math.floor(req.deadline - Date.now()));
    let reply: unknown[];
    try {
      const args = [
        w.id,
        req.units,
        w.p.gpus,
        req.priority,
        leaseTtlMs,
        waiterTtlMs,
        remaining,
        req.holderJson,
        this.core.channel,
        remaining === 0 ? '1' : '0',
        w.p.selectorJson,
        w.p.placement,
        this.core.poolEpoch,
        placeNow ? '1' : '0',
      ];
      reply = (await this.core.conn.run(SCRIPTS.poolAcquire, poolKeyList(namespace), args)) as unknown[];
    } catch (err) {
      this.unreached(w, err, first);
      return;
    }
    w.inFlight = false;
    const receivedAt = performance.now();
    if (w.settled) return; // gave up meanwhile: the POOL_LEAVE sent then undoes whatever this did
    w.lastOkAt = sentAt;
    const again = w.again;
    w.again = false;
    const status = reply[0] as string;
    if (status === 'granted') this.granted(w, reply, sentAt, receivedAt);
    else if (status === 'queued') {
      this.core.notePoolEpoch(reply[4]);
      this.core.noteServerTime(Number(reply[3]), sentAt, receivedAt);
      const recheck = Number(reply[2]);
      this.schedulePoll(w, again ? 0 : recheck >= 0 ? Math.min(pollMs, recheck + 5) : pollMs, again);
    } else if (status === 'ended') {
      this.late(w, 'a lease of the grant ended before it could be confirmed', () => this.renew(w));
    } else if (status === 'nofit') {
      this.settle(w);
      w.reject(noFit(w, Number(reply[1]), Number(reply[2])));
    } else if (status === 'busy') {
      this.core.notePoolEpoch(reply[1]);
      this.settle(w);
      w.reject(timeoutError(req.resource, req.deadline ?? Date.now()));
    } else {
      this.settle(w);
      w.reject(unavailable(`Unexpected reply "${status}" from the pool acquire script`));
    }
  }

  private granted(w: PoolWaiting, reply: unknown[], sentAt: number, receivedAt: number): void {
    const [grantedAt, remainingMs, waitedMs, serverNow] = reply.slice(3, 7).map(Number) as [number, number, number, number];
    this.core.noteServerTime(serverNow, sentAt, receivedAt);
    this.core.notePoolEpoch(reply[7]);
    const localExpiry = sentAt + remainingMs;
    if (localExpiry - receivedAt < remainingMs / 2) {
      // Confirmed again first (POOL_ACQUIRE of a granted id: a full TTL from now).
      this.late(w, `the grant's reply took ${Math.round(receivedAt - sentAt)} ms of its ${remainingMs} ms TTL`, () => this.startPoll(w, false, false));
      return;
    }
    this.settle(w);
    const nodeId = String(reply[1]);
    const record = parseJson(String(reply[2])) as { host?: unknown; labels?: unknown; gpus?: unknown };
    const registered = Array.isArray(record.gpus) ? (record.gpus as NodeGpu[]) : [];
    const node: PoolNode = {
      id: nodeId,
      host: typeof record.host === 'string' ? record.host : 'unknown',
      labels: record.labels !== null && typeof record.labels === 'object' ? (record.labels as Record<string, string>) : {},
    };
    const pairs = reply.slice(8);
    const gpus: NodeGpu[] = [];
    const grants = [];
    for (let k = 0; k < pairs.length / 2; k++) {
      const resource = String(pairs[2 * k]);
      gpus.push(registered.find((g) => g.resource === resource) ?? { index: -1, name: null, uuid: null, totalMiB: null, resource, error: null });
      grants.push(
        this.held.add(
          { resource, units: w.req.units, token: `${w.id}.${k + 1}`, onLost: w.req.onLost },
          Number(pairs[2 * k + 1]),
          grantedAt,
          waitedMs,
          localExpiry,
        ),
      );
    }
    w.resolve({ node, gpus, grants });
  }
}

function noFit(w: PoolWaiting, largest: number, liveNodes: number): GpuArbiterError {
  const details = { units: w.req.units, gpus: w.p.gpus, labels: JSON.parse(w.p.selectorJson) as Record<string, string>, largestCapacity: largest, liveNodes };
  if (liveNodes === 0) return new GpuArbiterError('E_NO_DEVICE', 'No live node in the pool (no node heartbeats in this namespace)', details);
  const sel = w.p.selectorJson === '{}' ? '' : ` with labels ${w.p.selectorJson}`;
  return new GpuArbiterError(
    'E_DOES_NOT_FIT',
    `${w.p.gpus} GPU(s) of ${w.req.units} MiB on one node can never fit any of the ${liveNodes} live node(s)${sel} (largest GPU: ${largest} MiB)`,
    details,
  );
}
