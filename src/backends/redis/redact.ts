// Where Redis is, as it may be shown: a password never leaves this process in an error, an
// event, util.inspect() output or the doctor's report. Everything that prints a Redis target
// goes through these two functions; the classes that hold one (RedisConnection, RedisLeases,
// RedisBackend, NodeRegistry, LeasesCore) print themselves through describeTarget().

/**
 * A redis:// URL with its password masked: `redis://:***@host:6379`, `redis://user:***@host`.
 * Userinfo with no `:` is masked whole (`redis://***@host`: some clients read it as the
 * password). Works on URLs that do not parse too (everything from `//` to the last `@` is the
 * userinfo then), so the input of a failed parse is never shown as given.
 */
export function maskRedisUrl(url: string): string {
  const at = url.lastIndexOf('@');
  if (at < 0) return url;
  // After `//`; with no `//` (a URL typed without its scheme), from the start.
  const slashes = url.indexOf('//');
  const from = slashes >= 0 && slashes < at ? slashes + 2 : 0;
  const userinfo = url.slice(from, at);
  const colon = userinfo.indexOf(':');
  const shown = colon < 0 || from === 0 ? '***' : `${userinfo.slice(0, colon)}:***`;
  return `${url.slice(0, from)}${shown}${url.slice(at)}`;
}

/**
 * A Redis target for messages and inspect output: a URL masked, an ioredis instance or seeds by
 * their addresses only (their options, where a password lives, are never shown).
 */
export function describeTarget(target: unknown): string {
  if (typeof target === 'string') return maskRedisUrl(target);
  if (target === null || typeof target !== 'object') return String(target);
  const t = target as Record<string, unknown>;
  const addr = (n: unknown): string => {
    const o = (n ?? {}) as { host?: unknown; port?: unknown };
    return `${String(o.host ?? '?')}:${String(o.port ?? '?')}`;
  };
  if (Array.isArray(t.sentinels)) return `sentinel ${String(t.name)} via ${t.sentinels.map(addr).join(',')}`;
  if (Array.isArray(t.cluster)) return `cluster ${t.cluster.map(addr).join(',')}`;
  // ioredis options for one server, as given to `redis:` (not an instance: those carry `options`).
  if (!('options' in t) && !Array.isArray(t.startupNodes) && ('host' in t || 'port' in t || 'path' in t)) {
    return t.path !== undefined
      ? `redis unix:${String(t.path)}`
      : `${t.tls ? 'rediss' : 'redis'}://${addr({ host: t.host ?? 'localhost', port: t.port ?? 6379 })}`;
  }
  // An ioredis Redis (options.host/port) or Cluster (startupNodes).
  if (Array.isArray(t.startupNodes)) return `ioredis Cluster ${t.startupNodes.map(addr).join(',')}`;
  const options = t.options as Record<string, unknown> | undefined;
  if (options && Array.isArray(options.sentinels)) return `ioredis Redis (sentinel ${String(options.name)})`;
  return `ioredis Redis ${addr(options)}`;
}
