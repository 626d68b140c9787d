// The shapes of a ledger that spans nodes (the Redis backend's node registry and cluster view),
// kept apart from the code that reads them so the contract can name them without importing a
// backend (docs/design.md, "Import rules").

/** One GPU as a node registers it. */
export interface NodeGpu {
  index: number;
  name: string | null;
  uuid: string | null;
  /** Total VRAM in MiB (null where NVML cannot tell). */
  totalMiB: number | null;
  /** The lease resource that stands for this GPU. */
  resource: string;
  /** NVML return name when the device is in error (lost, reset required). */
  error: string | null;
  /** GPU utilisation (%) at the last heartbeat, where NVML tells (cluster placement breaks ties by it). */
  utilPct?: number | null;
}

/** What a node writes to Redis. */
export interface NodeRecord {
  nodeId: string;
  /** Where callers reach the node: its `address` option, else its host name. */
  host: string;
  /** What cluster-scope requests select nodes by (e.g. { zone: 'eu-1' }). */
  labels?: Record<string, string>;
  pid: number;
  gpus: NodeGpu[];
  /** NVML was usable on the node (false: it registered no GPUs, and says why). */
  nvmlAvailable: boolean;
  nvmlReason: string | null;
  /** When the registering process started registering (its own clock, ms since epoch). */
  startedAt: number;
}

/** A live node as listed: its record plus its heartbeat state. */
export interface LiveNode extends NodeRecord {
  /** Redis server clock (ms since epoch) when its heartbeat expires. */
  expiresAt: number;
}

export interface ResourceUse {
  capacity: number;
  external: number;
  declared: number;
  closed: boolean;
  holders: number;
  waiting: number;
}

export interface ClusterGpu extends NodeGpu {
  /** null when the resource was never configured in Redis. */
  use: ResourceUse | null;
  /** Who holds it: each holder's task, job label, host, pid and units. */
  jobs?: ClusterJob[];
}

export interface ClusterJob {
  units: number;
  task?: string;
  label?: string;
  host?: string;
  pid?: number;
}

export interface ClusterNodeView extends Omit<LiveNode, 'gpus'> {
  gpus: ClusterGpu[];
  /** ms until the node disappears unless it heartbeats again. */
  expiresInMs: number;
}

export interface ClusterView {
  namespace: string;
  /** Redis server clock when the view was read. */
  now: number;
  nodes: ClusterNodeView[];
  /** Resources configured in the namespace that no live node announces (logical resources, stale GPUs). */
  otherResources: Array<{ resource: string; use: ResourceUse }>;
  /** The pool's cluster queue (cluster-scope requests that fit no node yet), in grant order. */
  queue: PoolWaiterView[];
  /** Redis server ms until which grants on the pool's GPUs wait after a data loss; null: none. */
  holdUntil: number | null;
}

/** The node a cluster-scope lease is on, as it registered itself (lease.node). */
export interface PoolNode {
  id: string;
  /** The address the node registered (its `address` option, else its host name). */
  host: string;
  labels: Record<string, string>;
}

/** A waiter of the pool's cluster queue, as `status --redis` shows it. */
export interface PoolWaiterView {
  /** 0: next in line. */
  position: number;
  /** MiB on each GPU. */
  units: number;
  gpus: number;
  priority: number;
  labels: Record<string, string>;
  /** Redis server ms when it joined the queue. */
  enqueuedAt: number;
  holder: { leaseId?: string; task?: string; pid?: number; host?: string; label?: string };
}
