// The set requests of this process (RedisLeases.acquireSet): several resources of one group (a
// node's GPUs), all granted in one step or none, by ACQUIRE_SET (./lua/acquire-set.ts). Each is
// one waiter here that calls ACQUIRE_SET as its request, its heartbeat and its poll; a queue whose
// head it reaches tells it to call at once ('e|id|0' on the wake-up channel). Once granted, each
// member is a lease of its own (token `<id>.<k>`), held, renewed and released like any other;
// giving up leaves every queue (LEAVE per member, which also gives back a grant made meanwhile).
// The rules for late replies are those of ./waiters.ts: never hand out a grant already lost.
import { performance } from 'node:perf_hooks';
import { CallWaiters, type CallWaiting } from './call-waiters';
import type { LeasesCore } from './core';
import { asUnavailable, refusal } from './replies';
import type { CheckedSetRequest } from './request';
import { SCRIPTS } from './scripts';
import type { RedisGrant } from './types';
import type { WaiterParts } from './waiters';

interface SetWaiting extends CallWaiting<RedisGrant[]> {
  resources: string[];
  /** Resources whose settings this waiter put back after Redis lost them (once each). */
  restored: Set<string>;
}

export class SetWaiters extends CallWaiters<SetWaiting, RedisGrant[]> {
  constructor(
    core: LeasesCore,
    private readonly parts: WaiterParts,
  ) {
    super(core);
  }

  enqueue({ resources, req }: CheckedSetRequest): Promise<RedisGrant[]> {
    return this.start(req, (base) => ({ ...base, resources, restored: new Set<string>() }));
  }

  /** A queue's head is this set's member: call now (or within `inMs`). */
  onExpiry(id: string, inMs: number): void {
    const w = this.waiting.get(id);
    if (!w || w.settled) return;
    if (w.inFlight) w.again = true;
    else this.schedulePoll(w, Math.min(this.core.config.pollMs, inMs), false);
  }

  protected leave(w: SetWaiting): Promise<unknown> {
    return Promise.all(w.resources.map((r, k) => this.parts.releases.leave(r, `${w.id}.${k + 1}`)));
  }

  protected async poll(w: SetWaiting, first: boolean): Promise<void> {
    if (w.settled || w.inFlight) return;
    w.inFlight = true;
    const { req } = w;
    const { leaseTtlMs, waiterTtlMs, pollMs } = this.core.config;
    const sentAt = performance.now();
    const remaining = req.deadline === undefined ? -1 : Math.max(0, Math.floor(req.deadline - Date.now()));
    const keys = this.core.keysOf(w.resources);
    let reply: unknown[];
    try {
      const args = [
        w.id,
        req.units,
        req.priority,
        leaseTtlMs,
        waiterTtlMs,
        remaining,
        req.holderJson,
        this.core.channel,
        remaining === 0 ? '1' : '0',
        this.core.poolEpoch,
      ];
      reply = (await this.core.conn.run(SCRIPTS.acquireSet, keys, args)) as unknown[];
    } catch (err) {
      this.unreached(w, err, first);
      return;
    }
    w.inFlight = false;
    const receivedAt = performance.now();
    if (w.settled) return; // gave up meanwhile: the LEAVEs sent then undo whatever this did
    w.lastOkAt = sentAt;
    const status = reply[0] as string;
    if (status === 'granted') {
      const [grantedAt, remainingMs, waitedMs, serverNow] = reply.slice(1, 5).map(Number) as [number, number, number, number];
      this.core.noteServerTime(serverNow, sentAt, receivedAt);
      const localExpiry = sentAt + remainingMs;
      if (localExpiry - receivedAt < remainingMs / 2) {
        // Confirmed again first (ACQUIRE_SET of a granted set: a full TTL from now).
        this.late(w, `the grant's reply took ${Math.round(receivedAt - sentAt)} ms of its ${remainingMs} ms TTL`, () => this.startPoll(w, false, false));
        return;
      }
      this.settle(w);
      const fences = reply.slice(5).map(Number);
      w.resolve(
        w.resources.map((resource, k) =>
          this.parts.held.add({ resource, units: req.units, token: `${w.id}.${k + 1}`, onLost: req.onLost }, fences[k]!, grantedAt, waitedMs, localExpiry),
        ),
      );
    } else if (status === 'queued') {
      const nextExpiry = Number(reply[2]);
      this.core.noteServerTime(Number(reply[3]), sentAt, receivedAt);
      this.schedulePoll(w, w.again ? 0 : nextExpiry >= 0 ? Math.min(pollMs, nextExpiry + 5) : pollMs, false);
      w.again = false;
    } else if (status === 'ended') {
      this.late(w, 'a lease of the set ended before it could be confirmed', () => this.renew(w));
    } else {
      const resource = w.resources[Number(reply[1]) - 1] ?? req.resource;
      const settings = status === 'nores' ? this.parts.resources.settingsOf(resource) : undefined;
      if (settings && !w.restored.has(resource)) {
        // Redis lost the resource (restarted without persistence): put back what this process set.
        w.restored.add(resource);
        try {
          await this.parts.resources.set(resource, settings);
        } catch (err) {
          this.settle(w);
          w.reject(asUnavailable(err));
          return;
        }
        this.startPoll(w, first, false);
        return;
      }
      this.settle(w);
      w.reject(refusal(status, { ...req, resource: status === 'busy' ? req.resource : resource }));
    }
  }
}
