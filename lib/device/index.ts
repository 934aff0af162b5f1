/** The device layer (lib/device): exports only. Device, FramePort, opening a TAP or a wire; below lib/miniport, above lib/virtio. */
export { setThreadCpus } from './affinity';
export { Device } from './device';
export { type ForwardCounters, FrameForwarder, type FrameForwarderOptions } from './forwarder';
export { openSharedTaps, openSharedWirePairs, openTap, openWirePair, tapUnavailableReason } from './open';
export { type Backend, checkIfName, type DeviceOptions, parseMac, resolveOptions } from './options';
export { FramePort, type FrameSink } from './port';
