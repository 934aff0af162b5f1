/** condis-tap: exports only. Reading order: README.md. */
export * from './device';
export type { ErrorCode } from './errors';
export { CondisError, ErrorCodes, fromNative, ringErrorCode } from './errors';
export { MiniportAdapter } from './miniport';
export type { NativeDeviceOptions, NativeInfo, NativePairStats, NativeStats } from './native';
export * as ndis from './ndis';
export { Ndis } from './ndis';
export { PvcCallManager, VcChannel } from './vc';
export * as virtio from './virtio';
