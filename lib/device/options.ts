/**
 * Validation of device options: JS validates, C++ trusts shapes and asserts (better-sqlite3's
 * split). Every failure is a CondisError ERR_CONDIS_INVALID_ARG naming the option and the range.
 */
import { CondisError } from '../errors';
import { kMaxQueuePairs, kMaxQueueSize, kMinQueueSize } from '../virtio/layout';
import { VirtioNetF, type VirtioNetFeature } from '../virtio/vnet-hdr';

/** How a device moves frames: `tap` (a Linux TAP, needs CAP_NET_ADMIN) or `wire` (an in-process cable, no privileges). */
export type Backend = 'tap' | 'wire';

/** Options of openTap and openWirePair; every field is checked (ERR_CONDIS_INVALID_ARG) before anything is opened. */
export interface DeviceOptions {
  /** Queue pairs: pair 0 untagged, 1..N-1 bindable to a VID. Default 4. */
  queuePairs?: number;
  /** Descriptors per queue, power of two 2..32768. Default 256. */
  queueSize?: number;
  /** Bytes per pool buffer (multiple of 64, >= 128). Default 2048. */
  bufferSize?: number;
  /** Buffers start with a 12-byte virtio_net_hdr (TAP: IFF_VNET_HDR). Default false. */
  vnetHdr?: boolean;
  /**
   * The virtio-net features the driver accepts (virtio 1.2, 5.1.3), with `vnetHdr` only; the device
   * negotiates those it offers (`info().features`). GUEST_* let the device hand over partial
   * checksums and 64 KiB GSO frames (a TAP: TUNSETOFFLOAD), so receive buffers must then be at
   * least kBigRxBufferBytes; HOST_* let the driver send them. Default with vnetHdr:
   * kDefaultVnetFeatures (the transmit offloads only).
   */
  features?: readonly VirtioNetFeature[];
  /** TAP name (1..15 chars; may contain one %d). Default: the kernel picks tapN. */
  name?: string;
  mtu?: number;
  /** 'aa:bb:cc:dd:ee:ff', unicast, not all zero. */
  mac?: string;
  persist?: boolean;
  multiQueue?: boolean;
  /** Bring the TAP up on open. Default true. */
  up?: boolean;
  /** Frames per queue per device service pass, 1..256. Default 64. */
  batch?: number;
  /** io_uring for TAP writes (batches) and reads (one armed multishot read, Linux 6.7+) where the kernel allows it; false = write()/read() per frame. Default true. */
  uring?: boolean;
  /**
   * After the device runs out of work it keeps looking this long (µs) before it sleeps: a sleep
   * and the wakeup that ends it cost far more than a few µs of polling, above all in a VM.
   * 0 = sleep at once (the default: on 2 cores a spinning device thread takes CPU the others need).
   */
  pollUs?: number;
  /**
   * The CPUs the device's I/O thread may run on (sched_setaffinity). Default: any, as the
   * scheduler sees fit. With setThreadCpus for the JS thread, for isolating a device on a larger
   * machine or for repeatable experiments (on the 2-core VM pinning was not faster: see
   * lib/bench/pps/engine.ts, wireCpus).
   */
  cpus?: readonly number[];
}

export interface ResolvedOptions {
  queuePairs: number;
  queueSize: number;
  bufferSize: number;
  vnetHdr: boolean;
  features: VirtioNetFeature[] | undefined;
  name: string;
  mtu: number;
  mac: Uint8Array | undefined;
  persist: boolean;
  multiQueue: boolean;
  up: boolean;
  batch: number;
  uring: boolean;
  pollUs: number;
  cpus: number[] | undefined;
}

const bad = (msg: string, option: string) => new CondisError('ERR_CONDIS_INVALID_ARG', msg, { option });

function int(o: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const v = o[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`${key} must be an integer from ${min} to ${max}, got ${String(v)}`, key);
  }
  return v;
}

function bool(o: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = o[key] ?? dflt;
  if (typeof v !== 'boolean') throw bad(`${key} must be a boolean, got ${typeof v}`, key);
  return v;
}

/** Linux interface names: 1..15 bytes, no '/', ':' or whitespace, not '.' or '..' (dev_valid_name). */
export function checkIfName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > 15) {
    throw bad(`interface name "${name}" must be 1 to 15 bytes`, 'name');
  }
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw bad(`interface name "${name}" may not be "." or ".." or contain "/", ":" or whitespace`, 'name');
  }
  if ((name.match(/%/g) ?? []).length > 1 || (name.includes('%') && !name.includes('%d'))) {
    throw bad(`interface name "${name}" may contain one "%d" pattern and no other "%"`, 'name');
  }
}

/** The 6 bytes of a MAC address written 'aa:bb:cc:dd:ee:ff'; throws ERR_CONDIS_INVALID_ARG otherwise. */
export function parseMac(mac: string): Uint8Array {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(
    mac,
  );
  if (!m) throw bad(`mac "${mac}" must look like 02:00:00:00:00:01`, 'mac');
  const b = Uint8Array.from(m.slice(1).map((h) => Number.parseInt(h, 16)));
  if ((b[0]! & 1) !== 0) throw bad(`mac "${mac}" is a multicast address; a NIC needs a unicast one`, 'mac');
  if (b.every((x) => x === 0)) throw bad(`mac "${mac}" is all zero`, 'mac');
  return b;
}

/** DeviceOptions checked and completed with their defaults (what the opener hands the addon). */
export function resolveOptions(options: DeviceOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw bad('options must be an object', 'options');
  const o = options as Record<string, unknown>;
  const known = new Set([
    'queuePairs',
    'queueSize',
    'bufferSize',
    'vnetHdr',
    'features',
    'name',
    'mtu',
    'mac',
    'persist',
    'multiQueue',
    'up',
    'batch',
    'uring',
    'pollUs',
    'cpus',
  ]);
  for (const k of Object.keys(o)) if (!known.has(k)) throw bad(`unknown option "${k}"`, k);
  const queueSize = int(o, 'queueSize', 256, kMinQueueSize, kMaxQueueSize);
  if ((queueSize & (queueSize - 1)) !== 0)
    throw bad(`queueSize must be a power of two, got ${queueSize}`, 'queueSize');
  const bufferSize = int(o, 'bufferSize', 2048, 128, 65536 + 64);
  if (bufferSize % 64 !== 0)
    throw bad(`bufferSize must be a multiple of 64, got ${bufferSize}`, 'bufferSize');
  const name = o.name ?? '';
  if (typeof name !== 'string') throw bad('name must be a string', 'name');
  if (name !== '') checkIfName(name);
  const mac = o.mac;
  if (mac !== undefined && typeof mac !== 'string') throw bad('mac must be a string', 'mac');
  const mtu = o.mtu === undefined ? 0 : int(o, 'mtu', 0, 68, 65521);
  const vnetHdr = bool(o, 'vnetHdr', false);
  const features = o.features === undefined ? undefined : checkFeatures(o.features, vnetHdr);
  return {
    queuePairs: int(o, 'queuePairs', 4, 1, kMaxQueuePairs),
    queueSize,
    bufferSize,
    vnetHdr,
    features,
    name,
    mtu,
    mac: mac === undefined ? undefined : parseMac(mac),
    persist: bool(o, 'persist', false),
    multiQueue: bool(o, 'multiQueue', false),
    up: bool(o, 'up', true),
    batch: int(o, 'batch', 64, 1, 256),
    uring: bool(o, 'uring', true),
    pollUs: int(o, 'pollUs', 0, 0, 10_000),
    cpus: o.cpus === undefined ? undefined : checkCpus(o.cpus, 'cpus'),
  };
}

/** A list of virtio-net feature names; the dependencies between them (5.1.3.1) the device checks. */
function checkFeatures(v: unknown, vnetHdr: boolean): VirtioNetFeature[] {
  if (!Array.isArray(v)) throw bad('features must be an array of virtio-net feature names', 'features');
  for (const f of v) {
    if (typeof f !== 'string' || !Object.hasOwn(VirtioNetF, f))
      throw bad(
        `unknown virtio-net feature ${JSON.stringify(f)}; known: ${Object.keys(VirtioNetF).join(', ')}`,
        'features',
      );
  }
  if (v.length > 0 && !vnetHdr)
    throw bad('features need a virtio_net_hdr in the ring: open with vnetHdr: true', 'features');
  return [...v] as VirtioNetFeature[];
}

/**
 * A CPU list: a non-empty array of distinct integers from 0 to 1023. Whether those CPUs exist
 * and are allowed is the kernel's to say (EINVAL when none is).
 */
export function checkCpus(v: unknown, option: string): number[] {
  if (!Array.isArray(v) || v.length === 0)
    throw bad(`${option} must be a non-empty array of CPU numbers`, option);
  for (const c of v) {
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 1023)
      throw bad(`${option}: CPU numbers are integers from 0 to 1023, got ${String(c)}`, option);
  }
  if (new Set(v).size !== v.length) throw bad(`${option} lists a CPU twice`, option);
  return [...v] as number[];
}
