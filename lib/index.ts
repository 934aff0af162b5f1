/** condis-tap: exports only. Reading order: README.md. */
export * from './device';
export { CondisError, ErrorCodes, fromNative, ringErrorCode } from './errors';
export { MiniportAdapter } from './miniport';
export type { NativeDeviceOptions, NativeInfo, NativePairStats, NativeStats } from './native';
export type { DeactivationRecord } from './ndis';
export * as ndis from './ndis';
export { Ndis } from './ndis';
export {
  AbortError,
  PvcCallManager,
  VcChannel,
  type VcChannelEvents,
  type VcChannelMiniport,
  type VcChannelOptions,
  type VcChannelStreamOptions,
} from './vc';
export * as virtio from './virtio';
