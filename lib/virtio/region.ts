/**
 * The region: ONE SharedArrayBuffer holding the header, every queue of the device and the buffer
 * pool (layout in ./layout.ts, source of truth native/virtq.h). JS allocates it and writes the
 * header once, before the device is opened; the addon pins and validates it.
 *
 * Memory the device reads must be device-accessible (virtio 1.2, 2.7 "Split Virtqueues"); here
 * "device memory" is this buffer, and a descriptor's addr is a byte offset into it which must lie
 * inside the pool.
 */
import { checkInt, describe, invalidArg } from './invalid-arg';
import {
  isPow2,
  kAbiVersion,
  kFeatureEventIdx,
  kHeaderBytes,
  kMaxQueuePairs,
  kMaxQueueSize,
  kMaxQueues,
  kMinQueueSize,
  kPageBytes,
  kRegionMagic,
  kVnetHdrLen,
  poolOffsetFor,
  type QueueLayout,
  QueueStatusOff,
  queueLayout,
  queueStatusOffset,
  RegionHeaderOff,
} from './layout';

/** ES2024's SharedArrayBuffer constructor (our lib is ES2022); Node 20's V8 has it. */
const GrowableSharedArrayBuffer = SharedArrayBuffer as unknown as new (
  byteLength: number,
  options: { maxByteLength: number },
) => SharedArrayBuffer;

/** Largest byte offset a u32 header field can describe. */
const kMaxRegionBytes = 0xffffffff;

export interface RegionOptions {
  /** Receive/transmit queue pairs, 1..64 (virtio-net 5.1.2: pair k = queues 2k, 2k+1). */
  queuePairs: number;
  /** Descriptors per queue: a power of two in [2, 32768] (virtio 1.2, 2.7). */
  queueSize: number;
  /** Bytes per pool slot: >= 64 and a multiple of 64 (one slot = one descriptor's buffer). */
  bufferSize: number;
  /** Pool slots per queue (default: queueSize). The pool has numQueues * buffersPerQueue slots. */
  buffersPerQueue?: number;
  /** Every buffer starts with a 12-byte struct virtio_net_hdr (5.1.6). Default false. */
  vnetHdr?: boolean;
}

export interface Region {
  readonly sab: SharedArrayBuffer;
  /** The whole region, byte-addressed (descriptor addrs index this). */
  readonly u8: Uint8Array;
  readonly dv: DataView;
  /** The whole region as u32 words, for Atomics on header / QueueStatus fields. */
  readonly u32: Uint32Array;
  readonly queuePairs: number;
  readonly numQueues: number;
  readonly queueSize: number;
  readonly queuesOffset: number;
  readonly queueStride: number;
  readonly layout: QueueLayout;
  readonly poolOffset: number;
  readonly poolSize: number;
  /** Bytes per pool slot. */
  readonly bufferSize: number;
  /** Slots in the pool. */
  readonly bufferCount: number;
  readonly buffersPerQueue: number;
  readonly vnetHdr: boolean;
  /** Where a frame starts inside a buffer: kVnetHdrLen with vnetHdr, else 0. */
  readonly payloadOffset: number;
  /** The header's features word. */
  readonly features: number;
  readonly eventIdx: boolean;
}

/** Allocates and initializes a region. Throws a CondisError ERR_CONDIS_INVALID_ARG. */
export function createRegion(options: RegionOptions): Region {
  if (typeof options !== 'object' || options === null) {
    throw invalidArg('type', `region options must be an object, got ${describe(options)}`);
  }
  const queuePairs = checkInt('queuePairs', options.queuePairs, 1, kMaxQueuePairs);
  const queueSize = checkInt('queueSize', options.queueSize, kMinQueueSize, kMaxQueueSize);
  if (!isPow2(queueSize)) {
    throw invalidArg('range', `queueSize must be a power of two, got ${queueSize}`);
  }
  const bufferSize = checkInt('bufferSize', options.bufferSize, 64, kMaxRegionBytes);
  if (bufferSize % 64 !== 0) {
    throw invalidArg('range', `bufferSize must be a multiple of 64, got ${bufferSize}`);
  }
  const buffersPerQueue =
    options.buffersPerQueue === undefined
      ? queueSize
      : checkInt('buffersPerQueue', options.buffersPerQueue, 1, kMaxRegionBytes);
  const vnetHdr = options.vnetHdr ?? false;
  if (typeof vnetHdr !== 'boolean') {
    throw invalidArg('type', `vnetHdr must be a boolean, got ${describe(vnetHdr)}`);
  }

  const numQueues = 2 * queuePairs;
  const layout = queueLayout(queueSize);
  const poolOffset = poolOffsetFor(numQueues, queueSize);
  const bufferCount = numQueues * buffersPerQueue;
  const poolSize = bufferCount * bufferSize;
  if (poolOffset + poolSize > kMaxRegionBytes) {
    throw invalidArg(
      'range',
      `region too large: pool of ${bufferCount} x ${bufferSize} bytes at ${poolOffset} exceeds 4 GiB`,
    );
  }

  // Growable (maxByteLength = byteLength, so it never actually grows): V8 maps a growable
  // SharedArrayBuffer with its own page allocator and unmaps it when the buffer is collected. A
  // plain one comes from malloc, and glibc's dynamic mmap threshold moves 1 MiB blocks onto the
  // heap after the first is freed; the heap then keeps the high-water mark of the garbage V8 lets
  // pile up between collections (~64 MiB), so RSS rose 68-73 MiB over 1,000 wire open/destroy
  // cycles and stayed there. Growable: 1.2-6.2 MiB (issue 9, test/native/region-memory.test.ts).
  const sab = new GrowableSharedArrayBuffer(poolOffset + poolSize, { maxByteLength: poolOffset + poolSize });
  const u32 = new Uint32Array(sab, 0, sab.byteLength >>> 2);
  const w = (off: number, v: number) => {
    u32[off >>> 2] = v;
  };
  // Plain stores: nobody else sees the buffer yet; handing it to the addon publishes it.
  w(RegionHeaderOff.magic, kRegionMagic);
  w(RegionHeaderOff.abiVersion, kAbiVersion);
  w(RegionHeaderOff.numQueues, numQueues);
  w(RegionHeaderOff.queueSize, queueSize);
  w(RegionHeaderOff.queuesOffset, kHeaderBytes);
  w(RegionHeaderOff.queueStride, layout.stride);
  w(RegionHeaderOff.poolOffset, poolOffset);
  w(RegionHeaderOff.poolSize, poolSize);
  w(RegionHeaderOff.features, kFeatureEventIdx);

  return makeRegion(sab, {
    queuePairs,
    queueSize,
    bufferSize,
    buffersPerQueue,
    vnetHdr,
    poolOffset,
    poolSize,
    features: kFeatureEventIdx,
  });
}

/**
 * Wraps an existing, initialized region (e.g. one passed to a worker). The header carries no
 * buffer size, so the pool geometry comes from `bufferSize` (and `buffersPerQueue`, default
 * pool_size / bufferSize / num_queues). Throws ERR_CONDIS_INVALID_ARG if the header is invalid.
 */
export function attachRegion(
  sab: SharedArrayBuffer,
  options: { bufferSize: number; buffersPerQueue?: number; vnetHdr?: boolean },
): Region {
  if (!(sab instanceof SharedArrayBuffer)) {
    throw invalidArg('type', `region must be a SharedArrayBuffer, got ${describe(sab)}`);
  }
  const why = validateRegionHeader(new Uint8Array(sab));
  if (why !== null) throw invalidArg('range', `invalid region: ${why}`);
  const u32 = new Uint32Array(sab, 0, kHeaderBytes >>> 2);
  const r = (off: number) => u32[off >>> 2] ?? 0;
  const numQueues = r(RegionHeaderOff.numQueues);
  const poolSize = r(RegionHeaderOff.poolSize);
  const bufferSize = checkInt('bufferSize', options.bufferSize, 64, poolSize);
  const buffersPerQueue =
    options.buffersPerQueue ?? Math.floor(Math.floor(poolSize / bufferSize) / numQueues);
  checkInt('buffersPerQueue', buffersPerQueue, 1, Math.floor(poolSize / bufferSize / numQueues));
  return makeRegion(sab, {
    queuePairs: numQueues / 2,
    queueSize: r(RegionHeaderOff.queueSize),
    bufferSize,
    buffersPerQueue,
    vnetHdr: options.vnetHdr ?? false,
    poolOffset: r(RegionHeaderOff.poolOffset),
    poolSize,
    features: r(RegionHeaderOff.features),
  });
}

function makeRegion(
  sab: SharedArrayBuffer,
  g: {
    queuePairs: number;
    queueSize: number;
    bufferSize: number;
    buffersPerQueue: number;
    vnetHdr: boolean;
    poolOffset: number;
    poolSize: number;
    features: number;
  },
): Region {
  const layout = queueLayout(g.queueSize);
  const numQueues = 2 * g.queuePairs;
  // Every view with an explicit length. A view of a growable SharedArrayBuffer made without one
  // tracks the buffer's length, and V8 11 (Node 20) then asks the runtime for that length on
  // each element access even in optimised code (Runtime_GrowableSharedArrayBufferByteLength, 6%
  // of the JS thread in the TAP pps bench): 17 ns per byte read against 1.6 ns for a fixed view.
  return {
    sab,
    u8: new Uint8Array(sab, 0, sab.byteLength),
    dv: new DataView(sab, 0, sab.byteLength),
    u32: new Uint32Array(sab, 0, sab.byteLength >>> 2),
    queuePairs: g.queuePairs,
    numQueues,
    queueSize: g.queueSize,
    queuesOffset: kHeaderBytes,
    queueStride: layout.stride,
    layout,
    poolOffset: g.poolOffset,
    poolSize: g.poolSize,
    bufferSize: g.bufferSize,
    bufferCount: numQueues * g.buffersPerQueue,
    buffersPerQueue: g.buffersPerQueue,
    vnetHdr: g.vnetHdr,
    payloadOffset: g.vnetHdr ? kVnetHdrLen : 0,
    features: g.features,
    eventIdx: (g.features & kFeatureEventIdx) !== 0,
  };
}

/**
 * Checks a region header against the buffer it lives in, like the addon's `validate_region`.
 * Returns null if valid, else a one-line reason. Same checks as native/virtq.cc; features are not
 * checked (the device ignores bits it does not know).
 */
export function validateRegionHeader(region: Uint8Array): string | null {
  if (region.byteLength < kHeaderBytes) return `region is ${region.byteLength} bytes, < ${kHeaderBytes}`;
  const dv = new DataView(region.buffer, region.byteOffset, region.byteLength);
  const r = (off: number) => dv.getUint32(off, true);
  if (r(RegionHeaderOff.magic) !== kRegionMagic) return 'bad magic';
  if (r(RegionHeaderOff.abiVersion) !== kAbiVersion) {
    return `abi_version ${r(RegionHeaderOff.abiVersion)} != ${kAbiVersion}`;
  }
  const nq = r(RegionHeaderOff.numQueues);
  if (nq < 2 || nq > kMaxQueues || nq % 2 !== 0) return `num_queues ${nq} not even in [2, ${kMaxQueues}]`;
  const q = r(RegionHeaderOff.queueSize);
  if (!isPow2(q) || q < kMinQueueSize || q > kMaxQueueSize) {
    return `queue_size ${q} not a power of two in [${kMinQueueSize}, ${kMaxQueueSize}]`;
  }
  if (r(RegionHeaderOff.queuesOffset) !== kHeaderBytes) return `queues_offset != ${kHeaderBytes}`;
  if (r(RegionHeaderOff.queueStride) !== queueLayout(q).stride)
    return 'queue_stride != queue_layout(q).stride';
  const poolOff = r(RegionHeaderOff.poolOffset);
  const poolSize = r(RegionHeaderOff.poolSize);
  if (poolOff % kPageBytes !== 0 || poolOff < poolOffsetFor(nq, q)) {
    return 'pool_offset not page aligned after the queues';
  }
  if (poolSize === 0 || poolOff + poolSize > region.byteLength) return 'pool leaves the region';
  return null;
}

/** A snapshot of `QueueStatus[index]` (device-written). */
export interface QueueStatusSnapshot {
  state: number;
  error: number;
  detail: number;
  vid: number;
}

/** Reads QueueStatus[index]. Allocates the result: not for the per-packet path. */
export function readQueueStatus(region: Region, index: number): QueueStatusSnapshot {
  const base = queueStatusOffset(index) >>> 2;
  return {
    // ORDERING: state is loaded first (seq-cst); the device stores error/detail before it stores
    // state = NEEDS_RESET, so a NEEDS_RESET seen here comes with its error and detail.
    state: Atomics.load(region.u32, base + (QueueStatusOff.state >>> 2)),
    // ORDERING: after the state load; see above.
    error: Atomics.load(region.u32, base + (QueueStatusOff.error >>> 2)),
    // ORDERING: after the state load; see above.
    detail: Atomics.load(region.u32, base + (QueueStatusOff.detail >>> 2)),
    // ORDERING: the device may rebind the VID at any time; a seq-cst load is just a fresh value.
    vid: Atomics.load(region.u32, base + (QueueStatusOff.vid >>> 2)),
  };
}

/** RegionHeader.device_status (DeviceStatus) and device_errno. */
export function deviceStatus(region: Region): { status: number; errno: number } {
  return {
    // ORDERING: status first; the device stores device_errno before device_status (release).
    status: Atomics.load(region.u32, RegionHeaderOff.deviceStatus >>> 2),
    // ORDERING: after the status load; see above.
    errno: Atomics.load(region.u32, RegionHeaderOff.deviceErrno >>> 2),
  };
}

/** The device's config_generation (bumped on every QueueStatus change). */
export function configGeneration(region: Region): number {
  // ORDERING: seq-cst load pairs with the device's bump made after it wrote a QueueStatus.
  return Atomics.load(region.u32, RegionHeaderOff.configGeneration >>> 2);
}
