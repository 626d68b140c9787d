// The cluster-scope requests of this process (RedisLeases.acquirePool): any live node's GPUs
// that fit, placed by Redis (./lua/pool-acquire.ts). Each is one waiter here that calls
// POOL_ACQUIRE as its request, its heartbeat and its poll. Redis wakes it ('e|id|0' on the
// wake-up channel) when it should place the queue: GPU units were freed, a node registered, or
// a call of another process granted it (then this call confirms the grant). Once granted, each
// GPU is a lease of its own (token `<id>.<k>` on `<nodeId>/gpu<i>`), held, renewed and released
// like any other; giving up sends POOL_LEAVE, which also gives back a grant made meanwhile.
// The rules for late replies are those of ./waiters.ts: never hand out a grant already lost.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GpuArbiterError } from '../../errors';
import type { NodeGpu } from '../cluster';
import { unavailable } from './connection';
import type { LeasesCore } from './core';
import { poolKeyList } from './keys';
import type { CheckedPoolRequest } from './pool-request';
import type { PoolNode, RedisPoolGrant } from './pool-types';
import { abortedError, asUnavailable, parseJson, timeoutError } from './replies';
import type { Releases } from './release';
import { SCRIPTS } from './scripts';
import type { HeldLeases } from './held';
import { MAX_LATE_TRIES, mayRetryLate, pollLater, stopWaiting } from './waiting';

interface PoolWaiting {
  id: string;
  p: CheckedPoolRequest;
  req: CheckedPoolRequest['req'];
  resolve: (g: RedisPoolGrant) => void;
  reject: (e: Error) => void;
  settled: boolean;
  lastOkAt: number;
  timer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  inFlight: boolean;
  lateTries: number;
  /** Woken while a call was in flight: call again (placing the queue) once it is back. */
  again: boolean;
}

export class PoolWaiters {
  private readonly waiting = new Map<string, PoolWaiting>();

  constructor(
    private readonly core: LeasesCore,
    private readonly held: HeldLeases,
    private readonly releases: Releases,
  ) {}

  has(id: string): boolean {
    return this.waiting.has(id);
  }

  enqueue(p: CheckedPoolRequest): Promise<RedisPoolGrant> {
    const req = p.req;
    if (req.signal?.aborted) return Promise.reject(abortedError(req.resource));
    return new Promise<RedisPoolGrant>((resolve, reject) => {
      const w: PoolWaiting = {
        id: randomBytes(16).toString('hex'),
        p,
        req,
        resolve,
        reject,
        settled: false,
        lastOkAt: performance.now(),
        timer: undefined,
        deadlineTimer: undefined,
        onAbort: undefined,
        inFlight: false,
        lateTries: 0,
        again: false,
      };
      this.waiting.set(w.id, w);
      if (req.signal) {
        w.onAbort = () => this.giveUp(w, abortedError(req.resource));
        req.signal.addEventListener('abort', w.onAbort, { once: true });
      }
      if (req.deadline !== undefined && req.deadline - Date.now() > 0) {
        w.deadlineTimer = setTimeout(() => this.giveUp(w, timeoutError(req.resource, req.deadline as number)), req.deadline - Date.now());
      }
      this.startPoll(w, true, false);
    });
  }

  /** Redis woke waiter `id`: place the queue now (or confirm a grant made to it). */
  onWake(id: string): void {
    const w = this.waiting.get(id);
    if (!w || w.settled) return;
    if (w.inFlight) w.again = true;
    else this.schedulePoll(w, 0, true);
  }

  recheckAll(): void {
    for (const w of this.waiting.values()) this.schedulePoll(w, 0, true);
  }

  closeAll(error: (resource: string) => GpuArbiterError): Array<Promise<void>> {
    const work: Array<Promise<void>> = [];
    for (const w of [...this.waiting.values()]) {
      this.settle(w);
      w.reject(error(w.req.resource));
      work.push(this.releases.leavePool(w.id));
    }
    return work;
  }

  private startPoll(w: PoolWaiting, first: boolean, placeNow: boolean): void {
    this.poll(w, first, placeNow).catch((err: unknown) => {
      w.inFlight = false;
      if (!w.settled) {
        this.settle(w);
        w.reject(asUnavailable(err));
        void this.releases.leavePool(w.id);
      }
      this.core.backendError(err);
    });
  }

  private async poll(w: PoolWaiting, first: boolean, placeNow: boolean): Promise<void> {
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
      w.inFlight = false;
      if (w.settled) return;
      // Nothing is granted on a guess (as for one resource, ./waiters.ts).
      if (first || performance.now() - w.lastOkAt > waiterTtlMs) {
        this.settle(w);
        w.reject(asUnavailable(err));
        void this.releases.leavePool(w.id);
      } else {
        this.schedulePoll(w, Math.min(250, pollMs), false);
      }
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
      this.late(w, 'a lease of the grant ended before it could be confirmed', () => {
        this.waiting.delete(w.id);
        w.id = randomBytes(16).toString('hex');
        this.waiting.set(w.id, w);
        this.startPoll(w, true, false);
      });
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

  private schedulePoll(w: PoolWaiting, delay: number, placeNow: boolean): void {
    pollLater(w, delay, () => this.startPoll(w, false, placeNow));
  }

  private settle(w: PoolWaiting): void {
    stopWaiting(w);
    this.waiting.delete(w.id);
  }

  private late(w: PoolWaiting, detail: string, retry: () => void): void {
    if (mayRetryLate(w)) {
      retry();
      return;
    }
    this.settle(w);
    w.reject(unavailable(`Redis answered too late to hand out a grant of ${w.req.resource} (${detail}; ${MAX_LATE_TRIES + 1} tries)`));
    void this.releases.leavePool(w.id);
  }

  private giveUp(w: PoolWaiting, err: GpuArbiterError): void {
    if (w.settled) return;
    this.settle(w);
    w.reject(err);
    void this.releases.leavePool(w.id);
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
