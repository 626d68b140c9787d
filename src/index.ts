export { GpuArbiterError, isGpuArbiterError, ErrorCodes } from './errors';
export type { ErrorCode, GpuArbiterErrorDetails } from './errors';
export { addonInfo } from './native';
export type { AddonInfo } from './native';
export { GpuMonitor } from './monitor';
export type { GpuMonitorOptions, GpuMonitorEvents, DeviceErrorEvent } from './monitor';
export type { GpuSnapshot, GpuDevice, GpuMemory, GpuUtilization, GpuProcess, DeviceError } from './monitor-types';
export { GpuArbiter } from './arbiter';
export type { RunResult, RunOptions, QueuePosition } from './arbiter';
export type { GpuArbiterOptions, GpuArbiterConfigInput, AcquireOptions, CriticalFailure } from './arbiter-options';
export type { ArbiterSnapshot, DeviceView, HolderSnapshot, QueueSnapshot, WaiterSnapshot } from './arbiter-snapshot';
export { AlertKinds } from './ops/alerts';
export type { Alert, AlertKind } from './ops/alerts';
export { CriticalLog } from './ops/critical-log';
export { Pipeline } from './ops/pipeline';
export type { PipelineStage, PipelineResult, StageContext, StageOutcome } from './ops/pipeline';
export type { Health, HealthCheck, HealthStatus } from './ops/health';
export type { CriticalLogStats } from './ops/critical-log';
export { Lease } from './lease';
export type { LeaseDevice, LeaseEnv, LeaseInfo } from './lease';
export { BusyPolicies, MAX_PRIORITY } from './policy';
export type { BusyPolicy, TaskPolicy, TaskPolicyInput } from './policy';
export type { PlacementStrategy } from './placement';
export { LocalBackend } from './backends/local';
export { HostBackend } from './backends/host';
export type { HostBackendOptions } from './backends/host';
export { RedisBackend } from './backends/redis';
export type { RedisBackendOptions } from './backends/redis';
export type { FallbackFactory } from './backends/failover';
export type * from './backends/types';
export type { GpuView } from './gpu-view';
export { SimulatedGpu } from './sim-gpu';
export type { SimulatedDeviceSpec } from './sim-gpu';
export { Outcomes } from './metrics';
export type { Outcome, MetricFamily, CounterFamily, HistogramFamily, TaskCounters } from './metrics';
export { registerMetrics } from './metrics-prom';
export { formatPrometheus, PROM_CONTENT_TYPE } from './ops/prom-text';
export type { PromRegistryLike } from './metrics-prom';
export { RedisLeases } from './redis/leases';
export type {
  RedisLeasesOptions,
  RedisAcquireRequest,
  RedisGrant,
  ReleaseOutcome,
  ResourceSettings,
  ResourceUsage as RedisResourceUsage,
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
export { HostLedger, HostGrant, listHostNamespaces, removeHostNamespace, hostNamespacePath, inspectHostNamespace } from './host-ledger';
export type { HostLedgerOptions, HostAcquireOptions, HostLedgerStatus, HostHolderInfo, HostWaiterInfo, HostResourceSpec, HostResourceUsage, HostLostReason } from './host-ledger';
export { readHostLedgers, formatHostLedgers, hostLedgersToJson } from './host-status';
export type { HostNamespaceStatus } from './host-status';
