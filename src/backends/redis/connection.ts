// Connections to Redis: what `redis:` may be (URL, ioredis instance, Cluster, Sentinel), the
// options we set on connections we own, and the one way scripts are run (EVALSHA first, EVAL
// once on NOSCRIPT, a bounded wait, every failure mapped to E_BACKEND_UNAVAILABLE). A URL is
// checked here before ioredis sees it, and shown only masked (./redact.ts).
import { inspect } from 'node:util';
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { GpuArbiterError } from '../../errors';
import { describe } from '../../util/validate';
import { Deadlines } from './deadlines';
import { describeTarget, maskRedisUrl } from './redact';
import type { LuaScript } from './scripts';

/** Sentinel: the master set `name` watched by `sentinels`. */
export interface RedisSentinelTarget {
  sentinels: Array<{ host: string; port: number }>;
  name: string;
  /** Extra ioredis options (password, db, tls...). */
  options?: RedisOptions;
}

/** A Redis Cluster given by its seed nodes. */
export interface RedisClusterTarget {
  cluster: ClusterNode[];
  options?: ClusterOptions;
}

/**
 * One server given as ioredis users write it: `{ host, port, password, username, db, tls, ... }`
 * (ioredis's RedisOptions; connection-behaviour options we own, such as the offline queue and
 * retries, are ours: see OWNED_OPTIONS).
 */
export type RedisServerOptions = RedisOptions & { host?: string; port?: number };

/**
 * Where Redis is: a URL (`redis://host:6379/0`, `rediss://...`), ioredis options for one server
 * (`{ host, port, password, db, tls }`), an ioredis `Redis` or `Cluster` instance (used as is,
 * never closed by us), Sentinel or Cluster seeds.
 */
export type RedisTarget = string | Redis | Cluster | RedisSentinelTarget | RedisClusterTarget | RedisServerOptions;

export type RedisClient = Redis | Cluster;

// Connections we own fail fast while Redis is away (no offline queue, no silent resend of a
// command that may have run), and reconnect quickly once it is back.
const OWNED_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: (times: number) => Math.min(50 * times, 500),
  lazyConnect: false,
};

/**
 * ioredis, loaded on first use: `require('gpu-arbiter')` with the local or host backend never
 * loads it (docs/design.md, import rule 5). Only this file touches ioredis at run time.
 */
function ioredis(): typeof import('ioredis') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('ioredis') as typeof import('ioredis');
}

/**
 * A one-off client for a health probe (`gpu-arbiter doctor --redis`): connects only when asked,
 * never retries, never queues, and gives up after `timeoutMs`.
 */
export function probeClient(url: string, timeoutMs: number): Redis {
  checkUrl('url', url);
  const { Redis } = ioredis();
  return new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
}

function isClient(value: unknown): value is RedisClient {
  if (value === null || typeof value !== 'object') return false;
  const { Redis, Cluster } = ioredis();
  return value instanceof Redis || value instanceof Cluster;
}

/** The refusal of a bad `redis:` value; a URL in it is masked (never the raw input). */
function badTarget(field: string, expected: string, value: unknown, why = ''): GpuArbiterError {
  const shown = typeof value === 'string' ? JSON.stringify(maskRedisUrl(value.length > 200 ? `${value.slice(0, 197)}...` : value)) : describe(value);
  return new GpuArbiterError('E_INVALID_ARGUMENT', `Expected ${expected} for ${field} but received ${shown}${why}`, { field });
}

/**
 * A redis:// or rediss:// URL that parses (ioredis parses it with `new URL()`, whose TypeError
 * carries the whole URL, password included, in its `input`: it never gets that far).
 */
function checkUrl(field: string, value: string): string {
  if (!/^rediss?:\/\//.test(value)) throw badTarget(field, 'a redis:// or rediss:// URL', value);
  try {
    new URL(value);
  } catch {
    throw badTarget(field, 'a redis:// or rediss:// URL', value, ' (not a valid URL)');
  }
  return value;
}

/** True when `value` looks like something `RedisConnection.create` accepts. */
export function checkTarget(field: string, value: unknown): RedisTarget {
  if (typeof value === 'string') return checkUrl(field, value);
  if (isClient(value)) return value;
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (isSentinelTarget(v)) return v;
    if (isClusterTarget(v)) return v;
    if (v.sentinels === undefined && v.cluster === undefined) return checkServerOptions(field, v);
  }
  throw badTarget(field, 'a redis:// URL, ioredis options { host, port, ... }, an ioredis Redis or Cluster, { sentinels, name } or { cluster }', value);
}

function isSentinelTarget(t: object): t is RedisSentinelTarget {
  return Array.isArray((t as RedisSentinelTarget).sentinels) && typeof (t as RedisSentinelTarget).name === 'string';
}

function isClusterTarget(t: object): t is RedisClusterTarget {
  return Array.isArray((t as RedisClusterTarget).cluster);
}

/**
 * ioredis options for one server: the fields that say where and as whom are checked here (a bad
 * one would otherwise surface as a connect timeout); the rest go to ioredis as given.
 */
function checkServerOptions(field: string, v: Record<string, unknown>): RedisServerOptions {
  if (v.host !== undefined && (typeof v.host !== 'string' || v.host === '')) throw badTarget(`${field}.host`, 'a host name or address', v.host);
  if (v.port !== undefined && !(Number.isInteger(v.port) && (v.port as number) >= 1 && (v.port as number) <= 65535)) {
    throw badTarget(`${field}.port`, 'an integer from 1 to 65535', v.port);
  }
  if (v.db !== undefined && !(Number.isInteger(v.db) && (v.db as number) >= 0)) throw badTarget(`${field}.db`, 'an integer >= 0', v.db);
  for (const key of ['password', 'username'] as const) {
    // The value itself is never shown: it may be a password.
    if (v[key] !== undefined && typeof v[key] !== 'string') throw badTarget(`${field}.${key}`, 'a string', typeof v[key]);
  }
  if (v.host === undefined && v.port === undefined && v.path === undefined) {
    throw badTarget(field, 'ioredis options with a host, port or path', `{ ${Object.keys(v).join(', ')} }`);
  }
  return v as RedisServerOptions;
}

/**
 * Redis refused our credentials (wrong password or user, or none given where one is needed):
 * waiting longer cannot help, so open() says what Redis said at once.
 */
export function isAuthError(err: unknown): boolean {
  const m = err instanceof Error ? err.message : '';
  return /\b(WRONGPASS|NOAUTH|NOPERM)\b|invalid (username-)?password|Authentication required/i.test(m);
}

export class RedisConnection {
  /** Scripts that had to be sent in full (EVAL) because the server did not have them cached. */
  scriptLoads = 0;
  private closed = false;

  private constructor(
    readonly client: RedisClient,
    /** We created the client (and close it); false for an instance the caller passed in. */
    readonly owned: boolean,
    readonly commandTimeoutMs: number,
    /** Where it connects, for messages and inspect output (password masked). */
    readonly shownTarget: string,
  ) {}

  static create(target: RedisTarget, commandTimeoutMs: number): RedisConnection {
    const shown = describeTarget(target);
    if (isClient(target)) return new RedisConnection(target, false, commandTimeoutMs, shown);
    const { Redis, Cluster } = ioredis();
    if (typeof target === 'string') return new RedisConnection(new Redis(checkUrl('redis', target), OWNED_OPTIONS), true, commandTimeoutMs, shown);
    if (isSentinelTarget(target)) {
      const client = new Redis({ ...OWNED_OPTIONS, ...target.options, sentinels: target.sentinels, name: target.name });
      return new RedisConnection(client, true, commandTimeoutMs, shown);
    }
    if (!isClusterTarget(target)) return new RedisConnection(new Redis({ ...target, ...OWNED_OPTIONS }), true, commandTimeoutMs, shown);
    const client = new Cluster(target.cluster, {
      enableOfflineQueue: false,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      ...target.options,
      redisOptions: { maxRetriesPerRequest: 0, ...target.options?.redisOptions },
    });
    return new RedisConnection(client, true, commandTimeoutMs, shown);
  }

  /** util.inspect(): the masked target and the state, never the client (its options hold the password). */
  [inspect.custom](_depth: number, options: { stylize(s: string, style: string): string }): string {
    const fields = { target: this.shownTarget, status: this.client.status, owned: this.owned, scriptLoads: this.scriptLoads };
    return `${options.stylize('RedisConnection', 'special')} ${inspect(fields, { ...options, depth: 1 } as never)}`;
  }

  get isCluster(): boolean {
    return this.client instanceof ioredis().Cluster;
  }

  /** True while commands can be sent. */
  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** Waits until the client is connected (or fails with E_BACKEND_UNAVAILABLE). */
  async waitReady(timeoutMs: number, { failOnError = false }: { failOnError?: boolean } = {}): Promise<void> {
    const c = this.client;
    if (c.status === 'ready') return;
    if (c.status === 'wait') void c.connect().catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(unavailable(`Redis at ${this.shownTarget} did not become ready within ${timeoutMs} ms (status ${c.status})`));
      }, timeoutMs);
      const onReady = (): void => {
        cleanup();
        resolve();
      };
      const onEnd = (): void => {
        cleanup();
        reject(unavailable('The Redis connection ended before it became ready'));
      };
      // One-shot readers (the CLI) give up at the first connection error instead of retrying;
      // everyone does when Redis refused the credentials, with what Redis said.
      const onError = (err: Error): void => {
        if (isAuthError(err)) {
          cleanup();
          // No cause: ioredis' ReplyError carries the AUTH/HELLO command, password included.
          reject(unavailable(`Redis at ${this.shownTarget} refused the credentials: ${err.message}`));
          return;
        }
        if (!failOnError) return;
        cleanup();
        // No cause here either: an ioredis error may carry the command it failed (AUTH's password).
        reject(unavailable(`Could not connect to Redis at ${this.shownTarget}: ${err.message}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        c.off('ready', onReady);
        c.off('end', onEnd);
        c.off('error', onError);
      };
      c.on('ready', onReady);
      c.on('end', onEnd);
      c.on('error', onError);
    });
  }

  /** A second connection to the same server(s), for pub/sub (always ours, always closed by us). */
  duplicate(): RedisClient {
    // Subscribe commands may wait for a (re)connect: nothing is granted through them.
    if (this.client instanceof ioredis().Cluster) return this.client.duplicate(undefined, { enableOfflineQueue: true });
    return this.client.duplicate({ enableOfflineQueue: true });
  }

  /**
   * Runs one script: EVALSHA; on NOSCRIPT (restarted server, SCRIPT FLUSH, new cluster node)
   * EVAL once, which also caches it for the next EVALSHA. Waits at most commandTimeoutMs.
   */
  run(script: LuaScript, keys: readonly string[], args: Array<string | number>): Promise<unknown> {
    if (this.closed) return Promise.reject(new GpuArbiterError('E_CLOSED', 'The Redis backend is closed'));
    return withTimeout(this.runUnbounded(script, keys, args), this.commandTimeoutMs, script.name);
  }

  // Plain promise chains, no async frames: every acquire and release goes through here.
  private runUnbounded(script: LuaScript, keys: readonly string[], args: Array<string | number>): Promise<unknown> {
    return this.client.evalsha(script.sha, keys.length, ...keys, ...args).catch((err: unknown) => {
      if (!isNoScript(err)) throw unavailable(`Redis script ${script.name} failed: ${errMessage(err)}`, err, script.name);
      this.scriptLoads++;
      return this.client.eval(script.source, keys.length, ...keys, ...args).catch((e: unknown) => {
        throw unavailable(`Redis script ${script.name} failed: ${errMessage(e)}`, e, script.name);
      });
    });
  }

  /** Plain commands for read-only views (INFO, HMGET...). */
  async command<T>(what: string, fn: (c: RedisClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new GpuArbiterError('E_CLOSED', 'The Redis backend is closed');
    try {
      return await withTimeout(fn(this.client), this.commandTimeoutMs, what);
    } catch (err) {
      if (err instanceof GpuArbiterError) throw err;
      throw unavailable(`Redis ${what} failed: ${errMessage(err)}`, err, what);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) await quitQuietly(this.client);
  }
}

/** QUIT when connected, else disconnect; never throws. */
export async function quitQuietly(client: RedisClient): Promise<void> {
  try {
    if (client.status === 'ready') {
      await withTimeout(client.quit(), 1000, 'quit');
      return;
    }
  } catch {
    // fall through to a hard disconnect
  }
  client.disconnect();
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : describe(err);
}

export function unavailable(message: string, cause?: unknown, operation?: string): GpuArbiterError {
  return new GpuArbiterError('E_BACKEND_UNAVAILABLE', message, operation ? { operation } : {}, { cause });
}

/** Settles like `p`, or rejects with `onTimeout()` when `p` has not settled within `ms`. */
export function settleWithin<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** The deadlines of every command of this process (one timer for all of them). */
const deadlines = new Deadlines();

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return deadlines.within(p, ms, () => unavailable(`Redis did not answer ${what} within ${ms} ms`, undefined, what));
}
