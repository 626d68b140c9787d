export { GpuArbiterError, isGpuArbiterError, ErrorCodes } from './errors';
export type { ErrorCode, GpuArbiterErrorDetails } from './errors';
export { addonInfo } from './native/addon';
export type { AddonInfo } from './native/addon';
export { GpuMonitor } from './gpu/monitor';
export type { GpuMonitorOptions, GpuMonitorEvents, DeviceErrorEvent } from './gpu/monitor';
export type { GpuSnapshot, GpuDevice, GpuMemory, GpuUtilization, GpuProcess, DeviceError } from './gpu/types';
export { GpuArbiter } from './arbiter/gpu-arbiter';
export type { RunResult, RunOptions, QueuePosition } from './arbiter/gpu-arbiter';
export type { GpuArbiterOptions, GpuArbiterConfigInput, AcquireOptions, CriticalFailure } from './arbiter/options';
export type { ArbiterSnapshot, DeviceView, HolderSnapshot, QueueSnapshot, WaiterSnapshot } from './arbiter/snapshot';
export type { DashboardHandler, DashboardOptions } from './dashboard/handler';
export type { DashboardFrame, DashboardAlert, GpuPanel, VramSegment, HolderRow, QueueRow, ChartPoint } from './dashboard/types';
export { AlertKinds } from './observe/alerts';
export type { Alert, AlertKind } from './observe/alerts';
export { CriticalLog } from './observe/critical-log';
export { Pipeline } from './pipeline/pipeline';
export type { PipelineStage, PipelineResult, StageContext, StageOutcome } from './pipeline/pipeline';
export type { Health, HealthCheck, HealthStatus } from './observe/health';
export type { CriticalLogStats } from './observe/critical-log';
export { Lease } from './arbiter/lease';
export type { LeaseDevice, LeaseEnv, LeaseInfo } from './arbiter/lease';
export { BusyPolicies, MAX_PRIORITY } from './policy/task-policy';
export type { BusyPolicy, TaskPolicy, TaskPolicyInput } from './policy/task-policy';
export type { PlacementStrategy } from './policy/placement';
export { LocalBackend } from './backends/local/backend';
export { HostBackend } from './backends/host/backend';
export type { HostBackendOptions } from './backends/host/backend';
export { RedisBackend } from './backends/redis/backend';
export type { RedisBackendOptions } from './backends/redis/backend';
export type { FallbackFactory } from './backends/failover';
export type * from './backends/contract';
export type { GpuView } from './gpu/view';
export { SimulatedGpu } from './gpu/simulated';
export type { SimulatedDeviceSpec } from './gpu/simulated';
export { Outcomes } from './metrics/counters';
export type { Outcome, MetricFamily, CounterFamily, HistogramFamily, TaskCounters } from './metrics/counters';
export { registerMetrics } from './metrics/prom-client';
export { leaseTraceparent } from './otel/lease-context';
export type { OtelOption, OtelOptions, OtelMeterLike, OtelTracerLike, OtelBatchResult } from './otel/options';
export { formatPrometheus, PROM_CONTENT_TYPE } from './metrics/prom-text';
export type { PromRegistryLike } from './metrics/prom-client';
export { RedisLeases } from './backends/redis/leases';
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
  RedisHolderInfo,
  RenewalFailingEvent,
  LeaseLostEvent,
  CriticalFailureEvent,
  RedisLeasesCounters,
  RedisLeasesEvents,
} from './backends/redis/types';
export type { RedisTarget, RedisSentinelTarget, RedisClusterTarget, RedisServerOptions } from './backends/redis/connection';
export { NodeRegistry } from './backends/redis/node-registry';
export type { NodeRegistryOptions, NodeRecord, NodeGpu, LiveNode, SnapshotSource } from './backends/redis/node-registry';
export { collectCluster, formatCluster } from './backends/redis/cluster-view';
export type { ClusterView, ClusterNodeView, ClusterGpu, ResourceUse } from './backends/redis/cluster-view';
export type { ClusterJob, PoolNode, PoolWaiterView } from './backends/cluster';
export type { RedisPoolGrant, RedisPoolRequest, PoolPlacement } from './backends/redis/pool-types';
export { HostLedger } from './backends/host/ledger';
export { HostGrant } from './backends/host/grant';
export type { HostLostReason } from './backends/host/grant';
export { listHostNamespaces, removeHostNamespace, hostNamespacePath, inspectHostNamespace } from './backends/host/namespaces';
export type { HostLedgerOptions, HostAcquireOptions, HostResourceSpec, HostResourceUsage } from './backends/host/options';
export type { HostLedgerStatus, HostHolderInfo, HostWaiterInfo } from './backends/host/view';
export { readHostLedgers, formatHostLedgers, hostLedgersToJson } from './backends/host/status';
export type { HostNamespaceStatus } from './backends/host/status';
