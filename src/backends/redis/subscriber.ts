// The wake-up subscriber: ONE pub/sub connection per RedisLeases (one per process in normal
// use), subscribed to ONE channel of its own. Scripts publish on it the grants made to this
// process's waiters and the losses of its holders, so any number of waiters share one
// subscription (no subscription pool to exhaust, as Redisson users hit). Classic PUBLISH
// reaches a subscriber on any node of a Redis Cluster.
import type { RedisClient } from './connection';
import { quitQuietly } from './connection';

export type WakeMessage =
  /** A release (or expiry, abort, capacity change) granted our waiter `id`. */
  | { type: 'granted'; id: string; fencingToken: number; grantedAt: number; expiresAt: number; remainingMs: number; waitedMs: number }
  /** Our holder `token` lost its lease (expired on the server, or revoked). */
  | { type: 'lost'; token: string; reason: string }
  /** Our waiter `id` was removed (the capacity shrank below its request). */
  | { type: 'removed'; id: string; reason: string }
  /** Our waiter `id` is the new head: the first lease held now expires in `inMs` unless renewed. */
  | { type: 'expiry'; id: string; inMs: number };

/** Parses 'g|id|fence|grantedAt|expiresAt|waited', 'l|token|reason', 'x|id|reason', 'e|id|ms'; null if malformed. */
export function parseWakeMessage(raw: string): WakeMessage | null {
  const parts = raw.split('|');
  if (parts[0] === 'g' && parts.length === 6) {
    const [, id, fence, at, exp, waited] = parts;
    return {
      type: 'granted',
      id: id as string,
      fencingToken: Number(fence),
      grantedAt: Number(at),
      expiresAt: Number(exp),
      remainingMs: Number(exp) - Number(at),
      waitedMs: Number(waited),
    };
  }
  if (parts[0] === 'l' && parts.length >= 3) return { type: 'lost', token: parts[1] as string, reason: parts.slice(2).join('|') };
  if (parts[0] === 'e' && parts.length === 3) return { type: 'expiry', id: parts[1] as string, inMs: Number(parts[2]) };
  if (parts[0] === 'x' && parts.length >= 3) return { type: 'removed', id: parts[1] as string, reason: parts.slice(2).join('|') };
  return null;
}

export class WakeSubscriber {
  private started = false;

  constructor(
    private readonly client: RedisClient,
    readonly channel: string,
    private readonly onMessage: (msg: WakeMessage) => void,
    /** After a reconnect: messages may have been missed, so the owner re-checks everything. */
    private readonly onResubscribed: () => void,
  ) {}

  async start(): Promise<void> {
    this.client.on('message', (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      const msg = parseWakeMessage(raw);
      if (msg) this.onMessage(msg);
    });
    // ioredis resubscribes by itself after a reconnect; 'ready' fires then.
    this.client.on('ready', () => {
      if (this.started) this.onResubscribed();
    });
    this.client.on('error', () => undefined); // reconnects are handled; errors surface via commands
    await this.client.subscribe(this.channel);
    this.started = true;
  }

  async close(): Promise<void> {
    this.started = false;
    await quitQuietly(this.client);
  }
}
