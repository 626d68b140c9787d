export { GpuArbiterError, isGpuArbiterError, ErrorCodes } from './errors';
export type { ErrorCode, GpuArbiterErrorDetails } from './errors';
export { addonInfo } from './native';
export type { AddonInfo } from './native';
export { GpuMonitor } from './monitor';
export type { GpuMonitorOptions, GpuMonitorEvents, DeviceErrorEvent } from './monitor';
export type { GpuSnapshot, GpuDevice, GpuMemory, GpuUtilization, GpuProcess, DeviceError } from './monitor-types';
