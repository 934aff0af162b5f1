/**
 * Opening devices: a real TAP (needs CAP_NET_ADMIN and /dev/net/tun) or a wire (two devices
 * joined in-process, no privileges) — and `openDevicePair`, which picks the TAP when it may and
 * the wire otherwise, and says why.
 */
import { CondisError, fromNative } from '../errors';
import { native } from '../native';
import { createRegion } from '../virtio/region';
import { Device } from './device';
import { type DeviceOptions, type ResolvedOptions, resolveOptions } from './options';

function regionFor(o: ResolvedOptions) {
  return createRegion({
    queuePairs: o.queuePairs,
    queueSize: o.queueSize,
    bufferSize: o.bufferSize,
    vnetHdr: o.vnetHdr,
  });
}

function nativeOptions(o: ResolvedOptions) {
  return {
    name: o.name,
    vnetHdr: o.vnetHdr,
    ...(o.features ? { features: o.features } : {}),
    multiQueue: o.multiQueue,
    persist: o.persist,
    up: o.up,
    mtu: o.mtu,
    ...(o.mac ? { mac: o.mac } : {}),
    batch: o.batch,
    uring: o.uring,
    pollUs: o.pollUs,
    ...(o.cpus ? { cpus: o.cpus } : {}),
  };
}

/** Opens (or creates) a TAP interface serviced by a device thread. */
export function openTap(options: DeviceOptions = {}): Device {
  const o = resolveOptions(options);
  const region = regionFor(o);
  const dev = new Device('tap', region);
  try {
    dev.attach(native().openTap(region.u8, nativeOptions(o), dev.interrupt));
  } catch (e) {
    throw fromNative(e);
  }
  return dev;
}

/**
 * Opens two devices joined by an in-process wire: what one transmits, the other receives. Both
 * ends take `options`; each end is its own NIC, so `peer.features` may give end b's driver other
 * virtio-net features than end a's (default: the same).
 */
export function openWirePair(
  options: DeviceOptions = {},
  peer: Pick<DeviceOptions, 'features'> = {},
): [Device, Device] {
  const o = resolveOptions(options);
  const pb =
    peer.features === undefined
      ? undefined
      : resolveOptions({ vnetHdr: o.vnetHdr, features: peer.features }).features;
  const a = new Device('wire', regionFor(o));
  const b = new Device('wire', regionFor(o));
  try {
    const [na, nb] = native().openWirePair(
      a.region.u8,
      b.region.u8,
      { ...nativeOptions(o), name: o.name || 'wire', ...(pb ? { peerFeatures: pb } : {}) },
      a.interrupt,
      b.interrupt,
    );
    a.attach(na);
    b.attach(nb);
  } catch (e) {
    throw fromNative(e);
  }
  return [a, b];
}

/** Why a TAP could not be created, or null if the error is not about privilege or the tun device. */
export function tapUnavailableReason(e: unknown): string | null {
  const code = (e as { code?: string }).code;
  if (code === 'EPERM' || code === 'EACCES') return 'no CAP_NET_ADMIN (creating a TAP needs it)';
  if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO') return 'no /dev/net/tun on this machine';
  return null;
}

export { CondisError };
