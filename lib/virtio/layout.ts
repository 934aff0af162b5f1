/**
 * The ring ABI shared with the native device, mirrored from `native/virtq.h`.
 *
 * SOURCE OF TRUTH: `native/virtq.h`. Every constant and offset here must equal the C++ one; a test
 * (test/native/layout.test.ts) compares {@link layoutFacts} against the values the addon exports.
 * Change both together and bump {@link kAbiVersion}.
 *
 * Region (one SharedArrayBuffer per device):
 *
 *   0                       RegionHeader (64 bytes)
 *   64                      QueueStatus[num_queues] (16 bytes each)
 *   4096                    queue 0: | desc table | avail ring | used ring |   (queue_stride bytes)
 *   4096 + k*queue_stride   queue k
 *   pool_offset             buffer pool (pool_size bytes), page aligned
 *
 * Queue numbering follows virtio-net (virtio 1.2, 5.1.2): pair k = receiveq 2k + transmitq 2k+1.
 * Rings are little-endian (virtio 1.x); this module refuses to load on a big-endian host.
 */

export const kRegionMagic = 0x54444e43; // "CNDT"
/** 2: DeviceStatus.Failed, RegionHeader.device_fault, TxStatus.DeviceFailed. 3: RingError.BadVnetHdr. */
export const kAbiVersion = 3;
export const kMaxQueuePairs = 64;
export const kMaxQueues = 2 * kMaxQueuePairs;
export const kMinQueueSize = 2;
/** virtio 1.2, 2.7: Queue Size max 32768. */
export const kMaxQueueSize = 32768;
export const kHeaderBytes = 4096;
/** struct virtio_net_hdr_v1 (virtio 1.2, 5.1.6). */
export const kVnetHdrLen = 12;
/** A frame gathers at most this many descriptors (device side). */
export const kMaxChainSegments = 64;
export const kPageBytes = 4096;

// Descriptor flags (virtio 1.2, 2.7.5).
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** avail.flags bit (2.7.6), consulted by the device only without EVENT_IDX. */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** used.flags bit (2.7.8), consulted by the driver only without EVENT_IDX. */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** Feature bit number (virtio 1.2, 6 "Reserved Feature Bits"): both sides use event indices. */
export const VIRTIO_RING_F_EVENT_IDX = 29;
/** The `features` word with only EVENT_IDX set (bit 29 fits in a u32 without sign trouble). */
export const kFeatureEventIdx = (1 << VIRTIO_RING_F_EVENT_IDX) >>> 0;

/** Per-queue state, written by the device only (`enum QueueState`). */
export const QueueState = {
  /** Not yet enabled, or reset: the device does not touch it. */
  Disabled: 0,
  /** Serviced. */
  Ready: 1,
  /** The device found a malformed ring and stopped using it (virtio 1.2, 2.1.2). */
  NeedsReset: 2,
} as const;
export type QueueState = (typeof QueueState)[keyof typeof QueueState];

/** Why a queue went to NEEDS_RESET (`enum RingError`). Stable numbers. */
export const RingError = {
  Ok: 0,
  /** avail.idx ran more than queue_size ahead of the device. */
  AvailIdxTooFar: 1,
  /** avail.ring[] named a descriptor >= queue_size. */
  HeadOutOfRange: 2,
  /** desc.next >= queue_size. */
  NextOutOfRange: 3,
  /** Chain longer than queue_size: it loops. */
  ChainLoop: 4,
  /** [addr, addr+len) leaves the buffer pool. */
  DescOutOfPool: 5,
  /** Device-writable descriptor where the device must read. */
  WriteOnlyInTx: 6,
  /** Device-readable descriptor where the device must write. */
  ReadOnlyInRx: 7,
  /** VIRTQ_DESC_F_INDIRECT was not negotiated. */
  IndirectUnsupported: 8,
  /** A descriptor of length 0. */
  ZeroLength: 9,
  /** More segments than the device gathers (kMaxChainSegments). */
  ChainTooLong: 10,
  /** A transmit frame's virtio_net_hdr breaks virtio 1.2, 5.1.6.2; `detail` is a VnetHdrFault (vnet-hdr.ts). */
  BadVnetHdr: 11,
} as const;
export type RingError = (typeof RingError)[keyof typeof RingError];

/** Whole-device state in RegionHeader.device_status, written by the device (`enum DeviceStatus`). */
export const DeviceStatus = {
  Ok: 0,
  /** The TAP went away (ip link del) or failed; every frame now fails. errno in device_errno. */
  BackendLost: 1,
  Closed: 2,
  /** The I/O thread had to stop (device_fault says which call failed, device_errno why); every send now fails. */
  Failed: 3,
} as const;
export type DeviceStatus = (typeof DeviceStatus)[keyof typeof DeviceStatus];

/** What stopped the I/O thread (RegionHeader.device_fault, with DeviceStatus.Failed; `enum DeviceFault`). */
export const DeviceFault = {
  None: 0,
  /** epoll_wait failed with something other than EINTR. */
  EpollWait: 1,
  /** epoll_ctl failed: the thread could no longer pause or resume TAP reads. */
  EpollCtl: 2,
} as const;
export type DeviceFault = (typeof DeviceFault)[keyof typeof DeviceFault];

/** The system call a DeviceFault names ('epoll_wait'), as Node's SystemError.syscall. */
export function deviceFaultSyscall(fault: number): string {
  switch (fault) {
    case DeviceFault.EpollWait:
      return 'epoll_wait';
    case DeviceFault.EpollCtl:
      return 'epoll_ctl';
    default:
      return `DeviceFault(${fault})`;
  }
}

/**
 * The project's one extension to virtio: a TRANSMIT chain's used.len (which virtio leaves 0,
 * 2.7.8) carries what became of the frame (`enum TxStatus`).
 */
export const TxStatus = {
  /** Handed to the backend (TAP write done / delivered into the peer's ring). */
  Sent: 0,
  /** The queue pair has no VID bound (pairs 1..N-1): dropped. */
  Unbound: 1,
  /** Shorter than an Ethernet header, or longer than the device takes. */
  Malformed: 2,
  /** The backend refused it (write error; TAP gone). */
  BackendError: 3,
  /** The queue was reset with the frame still queued in the device. */
  Aborted: 4,
  /** Wire: the other end is closed. */
  PeerGone: 5,
  /** The device's I/O thread stopped (DeviceStatus.Failed): nothing moves any more. */
  DeviceFailed: 6,
} as const;
export type TxStatus = (typeof TxStatus)[keyof typeof TxStatus];

const ringErrorNames: readonly string[] = Object.keys(RingError);
const queueStateNames: readonly string[] = Object.keys(QueueState);

/** 'ChainLoop' for 4, ...; `RingError(<n>)` for an unknown number. */
export function ringErrorName(n: number): string {
  return ringErrorNames[n] ?? `RingError(${n})`;
}

/** 'Ready' for 1, ...; `QueueState(<n>)` for an unknown number. */
export function queueStateName(n: number): string {
  return queueStateNames[n] ?? `QueueState(${n})`;
}

/** Byte offsets inside `struct RegionHeader` (64 bytes). JS writes magic..features once. */
export const RegionHeaderOff = {
  magic: 0,
  abiVersion: 4,
  numQueues: 8,
  queueSize: 12,
  queuesOffset: 16,
  queueStride: 20,
  poolOffset: 24,
  poolSize: 28,
  features: 32,
  irqPending: 36,
  configGeneration: 40,
  deviceStatus: 44,
  deviceErrno: 48,
  deviceFault: 52,
  reserved: 56,
} as const;
export const kRegionHeaderBytes = 64;

/** Byte offsets inside `struct QueueStatus` (16 bytes); the array starts at kQueueStatusOff. */
export const QueueStatusOff = { state: 0, error: 4, detail: 8, vid: 12 } as const;
export const kQueueStatusBytes = 16;
export const kQueueStatusOff = kRegionHeaderBytes;

/** `struct VirtqDesc` (virtio 1.2, 2.7.5). */
export const DescOff = { addr: 0, len: 8, flags: 12, next: 14 } as const;
export const kDescBytes = 16;
/** `struct VirtqUsedElem` (virtio 1.2, 2.7.8). */
export const UsedElemOff = { id: 0, len: 4 } as const;
export const kUsedElemBytes = 8;

// Offsets inside the avail and used rings (2.7.6, 2.7.8); the ring arrays follow the two u16s.
export const kAvailFlagsOff = 0;
export const kAvailIdxOff = 2;
export const kAvailRingOff = 4;
export const kUsedFlagsOff = 0;
export const kUsedIdxOff = 2;
export const kUsedRingOff = 4;

export function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

export function isPow2(v: number): boolean {
  return Number.isInteger(v) && v > 0 && (v & (v - 1)) === 0;
}

/** Offsets of one queue's parts, from the queue's base (`queue_layout`). */
export interface QueueLayout {
  /** Descriptor table, `struct VirtqDesc[q]` (2.7.5). Always 0. */
  readonly descOff: number;
  /** Avail ring: flags, idx, ring[q], used_event (2.7.6). */
  readonly availOff: number;
  /** Used ring: flags, idx, ring[q]{id,len}, avail_event (2.7.8). */
  readonly usedOff: number;
  /** Bytes per queue. */
  readonly stride: number;
  /** `used_event` (driver-written, in the avail ring): availOff + 4 + 2q (2.7.10). */
  readonly usedEventOff: number;
  /** `avail_event` (device-written, in the used ring): usedOff + 4 + 8q (2.7.10). */
  readonly availEventOff: number;
}

/** `queue_layout(q)`: each part 64-byte aligned so avail and used never share a cache line. */
export function queueLayout(q: number): QueueLayout {
  const descOff = 0;
  const availOff = alignUp(16 * q, 64);
  const usedOff = alignUp(availOff + 6 + 2 * q, 64);
  const stride = alignUp(usedOff + 6 + 8 * q, 64);
  return {
    descOff,
    availOff,
    usedOff,
    stride,
    usedEventOff: availOff + kAvailRingOff + 2 * q,
    availEventOff: usedOff + kUsedRingOff + kUsedElemBytes * q,
  };
}

/** `pool_offset_for(num_queues, q)`: where the pool may start (page aligned). */
export function poolOffsetFor(numQueues: number, q: number): number {
  return alignUp(kHeaderBytes + numQueues * queueLayout(q).stride, kPageBytes);
}

/** Byte offset of queue `index`'s base in the region. */
export function queueBaseOffset(index: number, q: number): number {
  return kHeaderBytes + index * queueLayout(q).stride;
}

/** Byte offset of QueueStatus[index] in the region. */
export function queueStatusOffset(index: number): number {
  return kQueueStatusOff + index * kQueueStatusBytes;
}

/**
 * `vring_need_event` (virtio 1.2, 2.7.10): true if `newIdx` has passed `eventIdx` since `oldIdx`,
 * i.e. eventIdx lies in [oldIdx, newIdx) modulo 2^16.
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/**
 * Every ABI number as one flat object, for the test that compares against the addon's export.
 * It holds every key of the addon's `layout(queueSize, numQueues)` (lib/native.ts NativeLayout:
 * abiVersion, magic, headerBytes, ..., descOff, availOff, usedOff, stride, poolOffset, ...), so
 * that test is `for (k in native) expect(facts[k]).toBe(native[k])`; plus every constant under its
 * C++ name (struct fields as `Struct_field`, queue_layout parts as `desc_off`, ...).
 */
export function layoutFacts(queueSize: number, numQueues: number): Record<string, number> {
  const l = queueLayout(queueSize);
  return {
    // The addon's layout() keys (native/device_wrap.cc).
    abiVersion: kAbiVersion,
    magic: kRegionMagic,
    headerBytes: kHeaderBytes,
    maxQueuePairs: kMaxQueuePairs,
    minQueueSize: kMinQueueSize,
    maxQueueSize: kMaxQueueSize,
    vnetHdrLen: kVnetHdrLen,
    descOff: l.descOff,
    availOff: l.availOff,
    usedOff: l.usedOff,
    stride: l.stride,
    poolOffset: poolOffsetFor(numQueues, queueSize),
    queueStatusOff: kQueueStatusOff,
    irqPendingOff: RegionHeaderOff.irqPending,
    configGenerationOff: RegionHeaderOff.configGeneration,
    deviceStatusOff: RegionHeaderOff.deviceStatus,
    deviceErrnoOff: RegionHeaderOff.deviceErrno,
    deviceFaultOff: RegionHeaderOff.deviceFault,
    eventIdxBit: VIRTIO_RING_F_EVENT_IDX,
    maxChainSegments: kMaxChainSegments,
    // C++ names.
    kRegionMagic,
    kAbiVersion,
    kMaxQueuePairs,
    kMaxQueues,
    kMinQueueSize,
    kMaxQueueSize,
    kHeaderBytes,
    kVnetHdrLen,
    kMaxChainSegments,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    VIRTQ_DESC_F_INDIRECT,
    VIRTIO_RING_F_EVENT_IDX,
    kQueueDisabled: QueueState.Disabled,
    kQueueReady: QueueState.Ready,
    kQueueNeedsReset: QueueState.NeedsReset,
    kDeviceOk: DeviceStatus.Ok,
    kDeviceBackendLost: DeviceStatus.BackendLost,
    kDeviceClosed: DeviceStatus.Closed,
    kDeviceFailed: DeviceStatus.Failed,
    kFaultNone: DeviceFault.None,
    kFaultEpollWait: DeviceFault.EpollWait,
    kFaultEpollCtl: DeviceFault.EpollCtl,
    kTxSent: TxStatus.Sent,
    kTxUnbound: TxStatus.Unbound,
    kTxMalformed: TxStatus.Malformed,
    kTxBackendError: TxStatus.BackendError,
    kTxAborted: TxStatus.Aborted,
    kTxPeerGone: TxStatus.PeerGone,
    kTxDeviceFailed: TxStatus.DeviceFailed,
    kRingOk: RingError.Ok,
    kRingAvailIdxTooFar: RingError.AvailIdxTooFar,
    kRingHeadOutOfRange: RingError.HeadOutOfRange,
    kRingNextOutOfRange: RingError.NextOutOfRange,
    kRingChainLoop: RingError.ChainLoop,
    kRingDescOutOfPool: RingError.DescOutOfPool,
    kRingWriteOnlyInTx: RingError.WriteOnlyInTx,
    kRingReadOnlyInRx: RingError.ReadOnlyInRx,
    kRingIndirectUnsupported: RingError.IndirectUnsupported,
    kRingZeroLength: RingError.ZeroLength,
    kRingChainTooLong: RingError.ChainTooLong,
    kRingBadVnetHdr: RingError.BadVnetHdr,
    sizeof_RegionHeader: kRegionHeaderBytes,
    RegionHeader_magic: RegionHeaderOff.magic,
    RegionHeader_abi_version: RegionHeaderOff.abiVersion,
    RegionHeader_num_queues: RegionHeaderOff.numQueues,
    RegionHeader_queue_size: RegionHeaderOff.queueSize,
    RegionHeader_queues_offset: RegionHeaderOff.queuesOffset,
    RegionHeader_queue_stride: RegionHeaderOff.queueStride,
    RegionHeader_pool_offset: RegionHeaderOff.poolOffset,
    RegionHeader_pool_size: RegionHeaderOff.poolSize,
    RegionHeader_features: RegionHeaderOff.features,
    RegionHeader_irq_pending: RegionHeaderOff.irqPending,
    RegionHeader_config_generation: RegionHeaderOff.configGeneration,
    RegionHeader_device_status: RegionHeaderOff.deviceStatus,
    RegionHeader_device_errno: RegionHeaderOff.deviceErrno,
    RegionHeader_device_fault: RegionHeaderOff.deviceFault,
    RegionHeader_reserved: RegionHeaderOff.reserved,
    sizeof_QueueStatus: kQueueStatusBytes,
    QueueStatus_state: QueueStatusOff.state,
    QueueStatus_error: QueueStatusOff.error,
    QueueStatus_detail: QueueStatusOff.detail,
    QueueStatus_vid: QueueStatusOff.vid,
    kQueueStatusOff,
    sizeof_VirtqDesc: kDescBytes,
    VirtqDesc_addr: DescOff.addr,
    VirtqDesc_len: DescOff.len,
    VirtqDesc_flags: DescOff.flags,
    VirtqDesc_next: DescOff.next,
    sizeof_VirtqUsedElem: kUsedElemBytes,
    VirtqUsedElem_id: UsedElemOff.id,
    VirtqUsedElem_len: UsedElemOff.len,
    kAvailFlagsOff,
    kAvailIdxOff,
    kAvailRingOff,
    kUsedFlagsOff,
    kUsedIdxOff,
    kUsedRingOff,
    queueSize,
    numQueues,
    desc_off: l.descOff,
    avail_off: l.availOff,
    used_off: l.usedOff,
    used_event_off: l.usedEventOff,
    avail_event_off: l.availEventOff,
    pool_offset_for: poolOffsetFor(numQueues, queueSize),
  };
}

// virtio 1.x rings are little-endian and the views in this folder use host byte order.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('condis-tap: virtio rings are little-endian; this host is big-endian');
}
