/** Driver side of the virtio split rings shared with the native device (see ./layout.ts). */
export { BufferPool } from './buffer-pool';
export { DriverQueue, UsedRingError } from './driver-queue';
export { type InvalidArgError, invalidArg } from './invalid-arg';
export * from './layout';
export {
  attachRegion,
  configGeneration,
  createRegion,
  createSharedRegions,
  deviceStatus,
  type QueueStatusSnapshot,
  type Region,
  type RegionOptions,
  readQueueStatus,
  type SlotOwner,
  validateRegionHeader,
} from './region';
export * from './vnet-hdr';
