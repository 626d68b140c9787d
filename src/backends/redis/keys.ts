// Key layout. Every key of one resource carries the same hash tag, so a script that touches them
// all runs on one Redis Cluster slot (no CROSSSLOT): `{<ns>:<resource>}`, or for a resource of a
// group, `<group>/<name>` (a node's GPUs: `<nodeId>/gpu<i>`), the pool's tag `{<ns>}`. The pool
// is the namespace: the node registry, the cluster queue (./pool/) and every node's GPUs share
// that one slot, so one script sees every live node's GPUs (cluster-wide placement, issue 15)
// and ACQUIRE_SET takes several GPUs of one node at once. A larger fleet runs several pools
// (namespaces), which a Redis Cluster spreads over its primaries.
//
// <ns> is the namespace with each `:` written as `|` (a namespace never holds `|`, a resource
// name never holds `{` or `}`: ./limits.ts). So the first `:` of a tag always ends the
// namespace, and no two (namespace, resource) pairs share a key: namespace `prod:x` + resource
// `y` is `{prod|x:y}`, namespace `prod` + resource `x:y` is `{prod:x:y}`. A namespace without
// `:` keeps the keys it always had.

/** The keys of one resource, in the order every per-resource script takes them (KEYS[1..8]). */
export interface ResourceKeys {
  /** HASH capacity, external, closed, declared, seq, violations, qg:<group> */
  meta: string;
  /** HASH token -> holder record (JSON) */
  holders: string;
  /** ZSET token -> lease expiry (Redis server ms) */
  holderExpiry: string;
  /** ZSET waiter id -> score: (PRIORITY_MAX - priority) * 2^32 + sequence (lowest first) */
  waiters: string;
  /** HASH waiter id -> waiter record (JSON) */
  waiterInfo: string;
  /** ZSET waiter id -> min(heartbeat expiry, deadline) (Redis server ms) */
  waiterExpiry: string;
  /** STRING fencing counter, INCR on every grant; never reset */
  fence: string;
  /** ZSET token -> end time: tombstones of ended leases, so a late release is told apart from a forged one */
  ended: string;
}

export const KEY_PREFIX = 'gpa';

/** The namespace as written in keys and channels: each `:` as `|` (unambiguous: see the head of this file). */
export function keyNamespace(namespace: string): string {
  return namespace.replace(/:/g, '|');
}

/**
 * The group of a resource: what comes before its first `/` (a node's id for `<nodeId>/gpu<i>`),
 * or null. Resources of one group share a hash tag: ACQUIRE_SET takes several at once.
 */
export function resourceGroup(resource: string): string | null {
  const slash = resource.indexOf('/');
  return slash > 0 ? resource.slice(0, slash) : null;
}

/** The hash tag of one resource: `{<ns>:<resource>}`, or the pool's `{<ns>}` for one of a group. */
export function resourceTag(namespace: string, resource: string): string {
  return resourceGroup(resource) === null ? `{${keyNamespace(namespace)}:${resource}}` : `{${keyNamespace(namespace)}}`;
}

export function resourceKeys(namespace: string, resource: string): ResourceKeys {
  // A grouped resource's keys name it after the tag (the tag alone names only its group).
  const tag = resourceTag(namespace, resource);
  const base = resourceGroup(resource) === null ? `${KEY_PREFIX}:${tag}` : `${KEY_PREFIX}:${tag}:${resource}`;
  return {
    meta: `${base}:meta`,
    holders: `${base}:holders`,
    holderExpiry: `${base}:hexp`,
    waiters: `${base}:waiters`,
    waiterInfo: `${base}:winfo`,
    waiterExpiry: `${base}:wexp`,
    fence: `${base}:fence`,
    ended: `${base}:ended`,
  };
}

export function resourceKeyList(k: ResourceKeys): string[] {
  return [k.meta, k.holders, k.holderExpiry, k.waiters, k.waiterInfo, k.waiterExpiry, k.fence, k.ended];
}

/**
 * The keys a script on a pool GPU (a grouped resource) takes after its 8 own (KEYS[9..15]): the
 * node registry, the cluster queue, the pool's epoch and its placement hints
 * (./lua/pool-prelude.ts). Same slot.
 */
export function poolKeyList(namespace: string): string[] {
  const n = namespaceKeys(namespace);
  const p = poolKeys(namespace);
  return [n.nodes, n.nodeInfo, p.waiters, p.waiterInfo, p.waiterExpiry, p.meta, p.hints];
}

/** The cluster queue and the pool's state (one slot with the pool's GPUs: `{<ns>}`). */
export interface PoolKeys {
  /** ZSET waiter id -> score, as a resource's queue (priority, then arrival) */
  waiters: string;
  /** HASH waiter id -> waiter record (JSON) */
  waiterInfo: string;
  /** ZSET waiter id -> min(heartbeat expiry, deadline) (Redis server ms) */
  waiterExpiry: string;
  /** HASH seq, epoch (server ms the pool's data was created), hold (grants wait until this server ms) */
  meta: string;
  /**
   * HASH of placement hints, so one placement reads the pool in one call: resource ->
   * 'capacity|external|declared|closed|queued|firstExpiry' as of the GPU's last script, and
   * '{n}<nodeId>' -> the node's labels and GPUs (JSON) as of its last heartbeat. Only hints: a
   * placement checks the GPUs it picks against their own keys before it grants.
   */
  hints: string;
}

export function poolKeys(namespace: string): PoolKeys {
  const base = `${KEY_PREFIX}:{${keyNamespace(namespace)}}:pool`;
  return { waiters: `${base}:waiters`, waiterInfo: `${base}:winfo`, waiterExpiry: `${base}:wexp`, meta: `${base}:meta`, hints: `${base}:hints` };
}

/** Namespace-wide keys (one slot: `{<ns>}`). */
export interface NamespaceKeys {
  /** ZSET node id -> heartbeat expiry (server ms) */
  nodes: string;
  /** HASH node id -> node record (JSON) */
  nodeInfo: string;
  /** SET of resource names ever configured in this namespace (for inspect and the CLI) */
  resources: string;
}

export function namespaceKeys(namespace: string): NamespaceKeys {
  const base = `${KEY_PREFIX}:{${keyNamespace(namespace)}}`;
  return { nodes: `${base}:nodes`, nodeInfo: `${base}:nodeinfo`, resources: `${base}:resources` };
}

/** The pub/sub channel of one RedisLeases instance; grants and losses for its waiters/holders go there. */
export function wakeChannel(namespace: string, instanceId: string): string {
  return `${KEY_PREFIX}:${keyNamespace(namespace)}:wake:${instanceId}`;
}
