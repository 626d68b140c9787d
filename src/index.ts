export { GpuArbiterError, isGpuArbiterError, ErrorCodes } from './errors';
export type { ErrorCode, GpuArbiterErrorDetails } from './errors';
export { addonInfo } from './native';
export type { AddonInfo } from './native';
