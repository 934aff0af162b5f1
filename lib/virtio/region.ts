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

/** A pool over a range of a region's slots, as `Region.owners` needs it (a BufferPool is one). */
export interface SlotOwner {
  readonly firstSlot: number;
  readonly capacity: number;
  isAllocated(slot: number): boolean;
}

export interface Region {
  readonly sab: SharedArrayBuffer;
  /**
   * Where the region starts in `sab`: 0 for a region of its own; a page multiple for one of the
   * regions of createSharedRegions. Every view below starts here, so offsets (descriptor addrs,
   * ring fields) are relative to the region, never to the buffer.
   */
  readonly byteOffset: number;
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
  /** Slots in the pool (with createSharedRegions: the one pool all the regions share). */
  readonly bufferCount: number;
  readonly buffersPerQueue: number;
  /**
   * The first pool slot this device's queues own: queue q owns slots [slotBase + q *
   * buffersPerQueue, + buffersPerQueue). 0 for a region of its own; with createSharedRegions the
   * regions own consecutive ranges of the shared pool.
   */
  readonly slotBase: number;
  /**
   * The pools over this region's pool, of every device that uses it (each Device adds its own):
   * with createSharedRegions, one array shared by all the regions, so a driver can ask which
   * device's pool a slot of the shared pool belongs to (lib/miniport/send.ts heldPoolSlot).
   */
  readonly owners: SlotOwner[];
  readonly vnetHdr: boolean;
  /** Where a frame starts inside a buffer: kVnetHdrLen with vnetHdr, else 0. */
  readonly payloadOffset: number;
  /** The header's features word. */
  readonly features: number;
  readonly eventIdx: boolean;
}

/** Allocates and initializes a region. Throws a CondisError ERR_CONDIS_INVALID_ARG. */
export function createRegion(options: RegionOptions): Region {
  return allocate([planRegion(options)])[0]!;
}

/**
 * Regions for several devices in ONE SharedArrayBuffer, sharing one buffer pool: what a forwarder
 * between devices needs to send the buffer one device received on another device's transmitq,
 * with no copy (issue 13: the copy between two regions cost 7% of all CPU in `condis bench tcp`).
 * Like NICs behind one IOMMU domain: each device checks every descriptor against the whole pool,
 * so any of them may read or write any slot of it; each device's queues still own their own slot
 * ranges (`slotBase`), and which slot is whose at a moment is the drivers' bookkeeping.
 *
 * Layout: the header and queues of region 0, of region 1, ..., each a page multiple, then the
 * pool, region 0's slots first. Region i is the view from its header to the end of the buffer, so
 * its pool_offset is the pool's distance from its own header. Every region needs the same
 * bufferSize and vnetHdr (a slot must mean the same to all of them). Throws ERR_CONDIS_INVALID_ARG.
 */
export function createSharedRegions(list: readonly RegionOptions[]): Region[] {
  if (!Array.isArray(list) || list.length < 1) {
    throw invalidArg(
      'type',
      `shared regions need a non-empty array of region options, got ${describe(list)}`,
    );
  }
  const plans = list.map(planRegion);
  const p0 = plans[0]!;
  plans.forEach((p, i) => {
    if (p.bufferSize !== p0.bufferSize || p.vnetHdr !== p0.vnetHdr) {
      throw invalidArg(
        'range',
        `shared regions need one bufferSize and vnetHdr: region ${i} has ${p.bufferSize}/${p.vnetHdr}, region 0 ${p0.bufferSize}/${p0.vnetHdr}`,
      );
    }
  });
  return allocate(plans);
}

/** A region's checked options and the geometry they give (no memory yet). */
interface RegionPlan {
  queuePairs: number;
  queueSize: number;
  bufferSize: number;
  buffersPerQueue: number;
  vnetHdr: boolean;
  numQueues: number;
  /** Header + queues: where the pool would start in a region of its own (a page multiple). */
  headerBytes: number;
  bufferCount: number;
}

function planRegion(options: RegionOptions): RegionPlan {
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
  return {
    queuePairs,
    queueSize,
    bufferSize,
    buffersPerQueue,
    vnetHdr,
    numQueues,
    headerBytes: poolOffsetFor(numQueues, queueSize),
    bufferCount: numQueues * buffersPerQueue,
  };
}

/** One SharedArrayBuffer for the planned regions (layout: createSharedRegions), headers written. */
function allocate(plans: readonly RegionPlan[]): Region[] {
  let poolAt = 0;
  let bufferCount = 0;
  for (const p of plans) {
    poolAt += p.headerBytes;
    bufferCount += p.bufferCount;
  }
  const bufferSize = plans[0]!.bufferSize;
  const poolSize = bufferCount * bufferSize;
  if (poolAt + poolSize > kMaxRegionBytes) {
    throw invalidArg(
      'range',
      `region too large: pool of ${bufferCount} x ${bufferSize} bytes at ${poolAt} exceeds 4 GiB`,
    );
  }
  // Growable (maxByteLength = byteLength, so it never actually grows): V8 maps a growable
  // SharedArrayBuffer with its own page allocator and unmaps it when the buffer is collected. A
  // plain one comes from malloc, and glibc's dynamic mmap threshold moves 1 MiB blocks onto the
  // heap after the first is freed; the heap then keeps the high-water mark of the garbage V8 lets
  // pile up between collections (~64 MiB), so RSS rose 68-73 MiB over 1,000 wire open/destroy
  // cycles and stayed there. Growable: 1.2-6.2 MiB (issue 9, test/native/region-memory.test.ts).
  const total = poolAt + poolSize;
  const sab = new GrowableSharedArrayBuffer(total, { maxByteLength: total });
  const out: Region[] = [];
  const owners: SlotOwner[] = [];
  let at = 0;
  let slotBase = 0;
  for (const p of plans) {
    const u32 = new Uint32Array(sab, at, p.headerBytes >>> 2);
    const w = (off: number, v: number) => {
      u32[off >>> 2] = v;
    };
    // Plain stores: nobody else sees the buffer yet; handing it to the addon publishes it.
    w(RegionHeaderOff.magic, kRegionMagic);
    w(RegionHeaderOff.abiVersion, kAbiVersion);
    w(RegionHeaderOff.numQueues, p.numQueues);
    w(RegionHeaderOff.queueSize, p.queueSize);
    w(RegionHeaderOff.queuesOffset, kHeaderBytes);
    w(RegionHeaderOff.queueStride, queueLayout(p.queueSize).stride);
    w(RegionHeaderOff.poolOffset, poolAt - at);
    w(RegionHeaderOff.poolSize, poolSize);
    w(RegionHeaderOff.features, kFeatureEventIdx);
    out.push(
      makeRegion(sab, {
        byteOffset: at,
        queuePairs: p.queuePairs,
        queueSize: p.queueSize,
        bufferSize,
        buffersPerQueue: p.buffersPerQueue,
        bufferCount,
        slotBase,
        owners,
        vnetHdr: p.vnetHdr,
        poolOffset: poolAt - at,
        poolSize,
        features: kFeatureEventIdx,
      }),
    );
    at += p.headerBytes;
    slotBase += p.bufferCount;
  }
  return out;
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
    byteOffset: 0,
    queuePairs: numQueues / 2,
    queueSize: r(RegionHeaderOff.queueSize),
    bufferSize,
    buffersPerQueue,
    bufferCount: numQueues * buffersPerQueue,
    slotBase: 0,
    owners: [],
    vnetHdr: options.vnetHdr ?? false,
    poolOffset: r(RegionHeaderOff.poolOffset),
    poolSize,
    features: r(RegionHeaderOff.features),
  });
}

function makeRegion(
  sab: SharedArrayBuffer,
  g: {
    byteOffset: number;
    queuePairs: number;
    queueSize: number;
    bufferSize: number;
    buffersPerQueue: number;
    bufferCount: number;
    slotBase: number;
    owners: SlotOwner[];
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
  const len = sab.byteLength - g.byteOffset;
  return {
    sab,
    byteOffset: g.byteOffset,
    u8: new Uint8Array(sab, g.byteOffset, len),
    dv: new DataView(sab, g.byteOffset, len),
    u32: new Uint32Array(sab, g.byteOffset, len >>> 2),
    queuePairs: g.queuePairs,
    numQueues,
    queueSize: g.queueSize,
    queuesOffset: kHeaderBytes,
    queueStride: layout.stride,
    layout,
    poolOffset: g.poolOffset,
    poolSize: g.poolSize,
    bufferSize: g.bufferSize,
    bufferCount: g.bufferCount,
    buffersPerQueue: g.buffersPerQueue,
    slotBase: g.slotBase,
    owners: g.owners,
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
