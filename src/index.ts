export { GpuArbiterError, isGpuArbiterError, ErrorCodes } from './errors';
export type { ErrorCode, GpuArbiterErrorDetails } from './errors';
export { addonInfo } from './native';
export type { AddonInfo } from './native';
export { GpuMonitor } from './monitor';
export type { GpuMonitorOptions, GpuMonitorEvents, DeviceErrorEvent } from './monitor';
export type { GpuSnapshot, GpuDevice, GpuMemory, GpuUtilization, GpuProcess, DeviceError } from './monitor-types';
export { RedisLeases } from './redis/leases';
export type {
  RedisLeasesOptions,
  RedisAcquireRequest,
  RedisGrant,
  ReleaseOutcome,
  ResourceSettings,
  ResourceUsage,
  RedisInspectView,
  InspectResource,
  InspectHolder,
  InspectWaiter,
  LeaseHolder,
  RenewalFailingEvent,
  LeaseLostEvent,
  CriticalFailureEvent,
  RedisLeasesCounters,
  RedisLeasesEvents,
} from './redis/types';
export type { RedisTarget, RedisSentinelTarget, RedisClusterTarget } from './redis/connection';
export { NodeRegistry } from './redis/node-registry';
export type { NodeRegistryOptions, NodeRecord, NodeGpu, LiveNode, SnapshotSource } from './redis/node-registry';
export { collectCluster, formatCluster } from './redis/cluster-view';
export type { ClusterView, ClusterNodeView, ClusterGpu, ResourceUse } from './redis/cluster-view';
