export { GpuArbiterError, isGpuArbiterError, ErrorCodes } from './errors';
export type { ErrorCode, GpuArbiterErrorDetails } from './errors';
export { addonInfo } from './native';
export type { AddonInfo } from './native';
export { HostLedger, HostGrant, listHostNamespaces, removeHostNamespace, hostNamespacePath, inspectHostNamespace } from './host-ledger';
export type { HostLedgerOptions, HostAcquireOptions, HostLedgerStatus, HostHolderInfo, HostWaiterInfo } from './host-ledger';
export { readHostLedgers, formatHostLedgers, hostLedgersToJson } from './host-status';
export type { HostNamespaceStatus } from './host-status';
