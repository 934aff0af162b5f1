/**
 * Opening devices: a real TAP (needs CAP_NET_ADMIN and /dev/net/tun) or a wire (two devices
 * joined in-process, no privileges) — and `openDevicePair`, which picks the TAP when it may and
 * the wire otherwise, and says why.
 */
import { CondisError, fromNative } from '../errors';
import { native } from '../native';
import { createRegion, createSharedRegions, type Region, type RegionOptions } from '../virtio/region';
import { Device } from './device';
import { type DeviceOptions, type ResolvedOptions, resolveOptions } from './options';

function regionOptions(o: ResolvedOptions): RegionOptions {
  return { queuePairs: o.queuePairs, queueSize: o.queueSize, bufferSize: o.bufferSize, vnetHdr: o.vnetHdr };
}

function regionFor(o: ResolvedOptions) {
  return createRegion(regionOptions(o));
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
  return openTapOn(regionFor(o), o);
}

function openTapOn(region: Region, o: ResolvedOptions): Device {
  const dev = new Device('tap', region);
  try {
    dev.attach(native().openTap(region.u8, nativeOptions(o), dev.interrupt));
  } catch (e) {
    throw fromNative(e);
  }
  return dev;
}

/**
 * Opens several TAPs (each as openTap would) whose regions share ONE SharedArrayBuffer and buffer
 * pool (createSharedRegions): a driver may then put a buffer one device received on another's
 * transmitq as it is — a forwarder between TAPs with no copy (lib/device/forwarder.ts). Each
 * device has its own queues, thread and slots. All of them need the same bufferSize and vnetHdr
 * (ERR_CONDIS_INVALID_ARG otherwise). If one fails to open, those opened are destroyed first.
 */
export function openSharedTaps(list: readonly DeviceOptions[]): Device[] {
  const resolved = list.map((options) => resolveOptions(options));
  const regions = createSharedRegions(resolved.map(regionOptions));
  const out: Device[] = [];
  try {
    for (let i = 0; i < resolved.length; i++) out.push(openTapOn(regions[i]!, resolved[i]!));
  } catch (e) {
    for (const d of out) d.destroy();
    throw e;
  }
  return out;
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
  return openWireOn(regionFor(o), regionFor(o), o, peer);
}

/**
 * Opens `count` wire pairs (each as openWirePair would) whose 2 x count regions share ONE
 * SharedArrayBuffer and buffer pool, as openSharedTaps does for TAPs: a FrameForwarder can then
 * join an end of one wire to an end of another with no copy, and no privilege is needed to try it.
 */
export function openSharedWirePairs(
  count: number,
  options: DeviceOptions = {},
  peer: Pick<DeviceOptions, 'features'> = {},
): Array<[Device, Device]> {
  if (!(Number.isInteger(count) && count >= 1 && count <= 64)) {
    throw new CondisError(
      'ERR_CONDIS_INVALID_ARG',
      `count must be an integer in [1, 64], got ${String(count)}`,
    );
  }
  const o = resolveOptions(options);
  const regions = createSharedRegions(new Array<RegionOptions>(2 * count).fill(regionOptions(o)));
  const out: Array<[Device, Device]> = [];
  try {
    for (let i = 0; i < count; i++) out.push(openWireOn(regions[2 * i]!, regions[2 * i + 1]!, o, peer));
  } catch (e) {
    for (const [a, b] of out) {
      a.destroy();
      b.destroy();
    }
    throw e;
  }
  return out;
}

function openWireOn(
  ra: Region,
  rb: Region,
  o: ResolvedOptions,
  peer: Pick<DeviceOptions, 'features'>,
): [Device, Device] {
  const pb =
    peer.features === undefined
      ? undefined
      : resolveOptions({ vnetHdr: o.vnetHdr, features: peer.features }).features;
  const a = new Device('wire', ra);
  const b = new Device('wire', rb);
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
