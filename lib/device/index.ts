export { Device } from './device';
export { openTap, openWirePair, tapUnavailableReason } from './open';
export { type Backend, type DeviceOptions, checkIfName, parseMac, resolveOptions } from './options';
export { type FrameSink, FramePort } from './port';
