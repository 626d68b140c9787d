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
}
