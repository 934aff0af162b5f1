/** condis-tap: exports only. Reading order: README.md. */
export * from './device';
export { CondisError, ErrorCodes, fromNative, ringErrorCode } from './errors';
export type { NativeDeviceOptions, NativeInfo, NativePairStats, NativeStats } from './native';
export * as ndis from './ndis';
export * as virtio from './virtio';
