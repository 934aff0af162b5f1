/**
 * The typed contract of the addon (native/addon.cc, native/device_wrap.cc): the only file that
 * loads the .node module. node-gyp-build takes build/Release (a local compile: a source tree, or
 * `npm rebuild condis-tap`) when there is one, else prebuilds/linux-<arch>/ (shipped in the npm
 * tarball for x64 and arm64: scripts/prebuild.sh).
 *
 * Nothing here is called per packet: packets move through the shared rings (lib/virtio), the
 * device's I/O thread and one coalesced interrupt callback per batch.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CondisError } from './errors';
import type { VirtioNetFeature } from './virtio/vnet-hdr';

/** Options the native side reads; lib/device/options.ts validates them first. */
export interface NativeDeviceOptions {
  /** TAP: interface name ('' = kernel picks tap%d). Wire: a label for thread names. */
  name?: string;
  vnetHdr?: boolean;
  multiQueue?: boolean;
  persist?: boolean;
  /** Bring the TAP up after configuring it (default true). */
  up?: boolean;
  mtu?: number;
  mac?: Uint8Array;
  /** Frames per queue per service pass, 1..256 (default 64). */
  batch?: number;
  /** Use io_uring for TAP writes and reads when the kernel allows (default true). */
  uring?: boolean;
  /** Busy-poll this many µs for more work before the device thread sleeps (default 0). */
  pollUs?: number;
  /** CPUs the device thread may run on (default: any). */
  cpus?: number[];
  /** virtio-net features the driver accepts (names of lib/virtio/vnet-hdr.ts VirtioNetF); vnetHdr only. */
  features?: string[];
  /** openWirePair: the features the driver of end b accepts (default: `features`). */
  peerFeatures?: string[];
}

/** Counters of one queue pair, as the device thread keeps them (Device.stats().pairs[k]). */
export interface NativePairStats {
  vid: number;
  txFrames: number;
  txBytes: number;
  txUnbound: number;
  txMalformed: number;
  txErrors: number;
  rxFrames: number;
  rxBytes: number;
  rxNoBuffer: number;
  rxTooBig: number;
  /** GSO frames dropped: the driver did not accept the GUEST_ feature they need (a wire peer sent them). */
  rxGsoDropped: number;
  interrupts: number;
  rxState: number;
  txState: number;
}

/** The device thread's counters (Device.stats()): frames it could not deliver, wakeups, interrupts raised and coalesced. */
export interface NativeStats {
  rxUnboundVid: number;
  rxMalformed: number;
  rxReadErrors: number;
  rxDeferred: number;
  kicks: number;
  wakeups: number;
  batches: number;
  irqRaised: number;
  irqCoalesced: number;
  ringErrors: number;
  /** 1 once the device's I/O thread had to stop (DeviceStatus.Failed, 'deviceFailed'), else 0. */
  threadFailures: number;
  /** NEEDS_CSUM frames the device checksummed for a driver without GUEST_CSUM (a wire peer sent them). */
  csumCompleted: number;
  /**
   * TAP frames read straight into pair 0's receive buffer, with no staging copy: a device whose
   * driver accepted a GUEST_ GSO feature and posts buffers of at least kDirectRxBytes (issue 13).
   */
  rxDirect: number;
  /** TAP writes go in io_uring batches (else write()/writev() per frame). */
  uring: boolean;
  /** TAP reads come from an armed io_uring multishot read (Linux 6.7+; else read() per frame). */
  rxUring: boolean;
  pairs: NativePairStats[];
}

/** What a device is (Device.info()): backend, queue pairs, and for a TAP its interface name, index, MAC and MTU. */
export interface NativeInfo {
  name: string;
  backend: 'tap' | 'wire';
  queuePairs: number;
  vnetHdr: boolean;
  /** virtio-net features (virtio 1.2, 5.1.3): what the backend offers, and what was negotiated with the driver. */
  features: { offered: VirtioNetFeature[]; negotiated: VirtioNetFeature[] };
  /** The largest frame (after the vnet header, before a VC's tag) the device takes on transmit. */
  maxFrame: number;
  ifname?: string;
  ifindex?: number;
  mac?: string;
  mtu?: number;
  linkUp?: boolean;
}

/** One device. Methods throw an Error with `code` (and `errno`/`syscall` for OS failures). */
export interface NativeDevice {
  /** Driver notification for virtio queue `q` (one per published batch at most). */
  kick(q: number): void;
  bindPair(pair: number, vid: number): void;
  unbindPair(pair: number): void;
  /**
   * Virtio 1.2 queue reset: the device forgets the queue's buffers; indices return to 0. Returns
   * the queue's used index as it stopped.
   */
  resetQueue(q: number, disable?: boolean): number;
  /**
   * Unbinds pair `pair` and disables both its queues in one step (no syscall); bindPair re-enables.
   * Returns the receive queue's used index as it stopped (see Device.stopPair).
   */
  quiescePair(pair: number): number;
  setLink(up: boolean): void;
  setMtu(mtu: number): void;
  stats(): NativeStats;
  info(): NativeInfo;
  /** close(true, ms) transmits what was posted first (bounded); close(false) abandons it. Idempotent. */
  close(drain?: boolean, timeoutMs?: number): void;
  ref(): void;
  unref(): void;
  /**
   * TEST ONLY: breaks the device for real, to exercise its failure path. An ordinary descriptor
   * (/dev/null) is put in place of the I/O thread's epoll descriptor and the thread is kicked: its
   * next epoll call fails (EINVAL) and the thread stops as it would for any epoll failure — the
   * region header says DeviceStatus.Failed, stats().threadFailures is 1, every posted send
   * completes TxStatus.DeviceFailed. The device cannot be repaired; close or destroy it. Throws
   * ERR_CONDIS_INVALID_STATE if its thread is not running.
   */
  testBreakEpoll(): void;
  /**
   * TEST ONLY: while held, the I/O thread takes nothing from any transmit queue (a transmitter
   * that is stuck), so a test can have sends in flight for as long as it needs, whatever the
   * scheduler does; releasing kicks the thread. A close that drains waits out its timeout while
   * held.
   */
  testHoldTx(hold: boolean): void;
}

export interface NativeLayout {
  abiVersion: number;
  magic: number;
  headerBytes: number;
  maxQueuePairs: number;
  minQueueSize: number;
  maxQueueSize: number;
  vnetHdrLen: number;
  descOff: number;
  availOff: number;
  usedOff: number;
  stride: number;
  poolOffset: number;
  queueStatusOff: number;
  irqPendingOff: number;
  configGenerationOff: number;
  deviceStatusOff: number;
  deviceErrnoOff: number;
  deviceFaultOff: number;
  eventIdxBit: number;
  maxChainSegments: number;
}

export interface NativeBinding {
  abiVersion: number;
  openTap(region: Uint8Array, options: NativeDeviceOptions, onInterrupt: () => void): NativeDevice;
  openWirePair(
    regionA: Uint8Array,
    regionB: Uint8Array,
    options: NativeDeviceOptions,
    onInterruptA: () => void,
    onInterruptB: () => void,
  ): [NativeDevice, NativeDevice];
  layout(queueSize: number, numQueues: number): NativeLayout;
  /** Restricts the calling thread to `cpus` ([] = every CPU the process may use). */
  setThreadCpus(cpus: number[]): void;
}

let cached: NativeBinding | undefined;

/** Loads the addon once. Throws a CondisError ERR_CONDIS_NO_ADDON with a fix if it was never built. */
export function native(): NativeBinding {
  if (cached) return cached;
  cached = loadAddon(packageRoot(), require);
  return cached;
}

/**
 * The loader behind {@link native}, with `require` passed in so a test can play a machine with no
 * addon (node-gyp-build throwing, or missing) without unloading the real one. `dir` is the folder
 * holding binding.gyp. Not exported from the package root.
 */
export function loadAddon(dir: string, req: (id: string) => unknown): NativeBinding {
  try {
    const load = req('node-gyp-build') as (dir: string) => unknown;
    return load(dir) as NativeBinding;
  } catch (cause) {
    throw noAddonError(cause);
  }
}

/**
 * The error for an addon that cannot be loaded: ERR_CONDIS_NO_ADDON, the loader's first line
 * quoted, and what to run. Said to a consumer of the package as much as to a developer of it: no
 * script of ours is named, only what works in any project that depends on condis-tap.
 */
export function noAddonError(cause: unknown): CondisError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new CondisError(
    'ERR_CONDIS_NO_ADDON',
    `condis-tap: no prebuilt binary for ${process.platform}-${process.arch} and no compiled addon ` +
      `(${why.split('\n')[0]}): install g++, make and python3 and run ` +
      '`npm rebuild condis-tap` (in a clone of condis-tap itself: `npm run build:native`)',
    {},
    { cause },
  );
}

/** The folder holding binding.gyp: lib/.. from source, dist/lib/../.. when compiled. */
function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'binding.gyp'))) {
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '..');
    dir = up;
  }
  return dir;
}
