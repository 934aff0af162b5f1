/**
 * The DEVICE half of a split virtqueue, in TypeScript, for tests: a faithful model of
 * `condis::DeviceQueue` (native/virtq.h), so driver tests run against a real other side and the
 * malformed-ring cases here can be ported one-for-one to the native tests.
 *
 * Like the native device it trusts nothing in the region: every avail index and descriptor is
 * checked before use, and a malformed ring moves the queue to NEEDS_RESET (virtio 1.2, 2.1.2) with
 * a RingError and a detail in QueueStatus.
 *
 * Mirrors native/virtq.cc exactly (the native tests port these cases). pop() validation order,
 * first failure wins; the QueueStatus detail in brackets:
 *   1. avail.idx more than queue_size ahead of last_avail   -> AvailIdxTooFar  [avail.idx read]
 *   2. avail.ring[last_avail & (q-1)] >= queue_size         -> HeadOutOfRange  [that head value]
 *   then for each descriptor d of the chain, in chain order:
 *   3. the walk reaches its (q+1)-th descriptor             -> ChainLoop       [head]
 *   4. flags & INDIRECT                                     -> IndirectUnsupported [d]
 *   5. tx queue and flags & WRITE                           -> WriteOnlyInTx   [d]
 *      rx queue and !(flags & WRITE)                        -> ReadOnlyInRx    [d]
 *   6. len == 0                                             -> ZeroLength      [d]
 *   7. [addr, addr+len) not inside [pool_offset, pool_offset+pool_size) (addr is a u64)
 *                                                           -> DescOutOfPool   [d]
 *   8. d would be segment kMaxChainSegments + 1             -> ChainTooLong    [head]
 *   9. chain total > 16 MiB                                 -> ChainTooLong    [head]
 *  10. flags & NEXT and next >= q                           -> NextOutOfRange  [d]
 * A `next` naming a descriptor already in this chain is ChainLoop at once (as native/virtq.cc),
 * whatever the queue size; step 3 remains as a backstop.
 *
 * A queue that is not READY (disabled or NEEDS_RESET) has nothing pending: pop() says 'empty'.
 * Status updates: error and detail are written before state, then config_generation is bumped;
 * fail() keeps the first error.
 */
import {
  kAvailFlagsOff,
  kAvailIdxOff,
  kAvailRingOff,
  kMaxChainSegments,
  kUsedFlagsOff,
  kUsedIdxOff,
  kUsedRingOff,
  QueueState,
  QueueStatusOff,
  queueBaseOffset,
  queueLayout,
  queueStatusOffset,
  RegionHeaderOff,
  RingError,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  vringNeedEvent,
} from '../../lib/virtio/layout';
import { validateRegionHeader } from '../../lib/virtio/region';

/** native/virtq.cc: a chain over 16 MiB is abuse (ChainTooLong). */
export const kMaxFrameBytes = 1 << 24;

export type PopResult = 'chain' | 'empty' | 'broken';

/** A popped, validated chain (preallocated; pop() overwrites it). */
export class DeviceChain {
  head = 0;
  nseg = 0;
  /** Sum of segment lengths. */
  total = 0;
  readonly addr = new Uint32Array(kMaxChainSegments);
  readonly len = new Uint32Array(kMaxChainSegments);
}

export class DeviceRing {
  readonly index: number;
  readonly isTx: boolean;
  readonly size: number;
  private readonly sab: SharedArrayBuffer;
  /** Descriptors of the chain being walked, to name a loop as a loop. */
  private readonly seen = new Uint16Array(kMaxChainSegments);
  private readonly mask: number;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  private readonly hdr32: Uint32Array;
  private readonly statusI: number;
  private readonly availFlagsI: number;
  private readonly availIdxI: number;
  private readonly availRingI: number;
  private readonly usedEventI: number;
  private readonly usedFlagsI: number;
  private readonly usedIdxI: number;
  private readonly usedRingI: number;
  private readonly availEventI: number;
  private readonly poolLo: number;
  private readonly poolHi: number;
  private readonly eventIdx: boolean;
  private lastAvail = 0;
  private usedShadow = 0;
  private usedPublished = 0;

  /** Opens queue `index` of the region (validating its header); `enable` sets it READY. */
  constructor(sab: SharedArrayBuffer, index: number, isTx: boolean, enable = true) {
    const why = validateRegionHeader(new Uint8Array(sab));
    if (why !== null) throw new Error(`device: invalid region: ${why}`);
    const hdr = new DataView(sab, 0, 64);
    const q = hdr.getUint32(RegionHeaderOff.queueSize, true);
    const nq = hdr.getUint32(RegionHeaderOff.numQueues, true);
    if (!(index >= 0 && index < nq)) throw new Error(`device: no queue ${index}`);
    const l = queueLayout(q);
    const base = queueBaseOffset(index, q);
    this.sab = sab;
    this.index = index;
    this.isTx = isTx;
    this.size = q;
    this.mask = q - 1;
    this.u16 = new Uint16Array(sab, base, l.stride >>> 1);
    this.u32 = new Uint32Array(sab, base, l.stride >>> 2);
    this.hdr32 = new Uint32Array(sab, 0, 1024);
    this.statusI = queueStatusOffset(index) >>> 2;
    this.availFlagsI = (l.availOff + kAvailFlagsOff) >>> 1;
    this.availIdxI = (l.availOff + kAvailIdxOff) >>> 1;
    this.availRingI = (l.availOff + kAvailRingOff) >>> 1;
    this.usedEventI = l.usedEventOff >>> 1;
    this.usedFlagsI = (l.usedOff + kUsedFlagsOff) >>> 1;
    this.usedIdxI = (l.usedOff + kUsedIdxOff) >>> 1;
    this.usedRingI = (l.usedOff + kUsedRingOff) >>> 2;
    this.availEventI = l.availEventOff >>> 1;
    this.poolLo = hdr.getUint32(RegionHeaderOff.poolOffset, true);
    this.poolHi = this.poolLo + hdr.getUint32(RegionHeaderOff.poolSize, true);
    this.eventIdx = (hdr.getUint32(RegionHeaderOff.features, true) & (1 << VIRTIO_RING_F_EVENT_IDX)) !== 0;
    if (enable) this.setStatus(QueueState.Ready, RingError.Ok, 0);
  }

  state(): number {
    return Atomics.load(this.hdr32, this.statusI + (QueueStatusOff.state >>> 2));
  }

  ready(): boolean {
    return this.state() === QueueState.Ready;
  }

  /** The device's next avail index (u16). */
  get lastAvailIdx(): number {
    return this.lastAvail;
  }

  /** Used idx including pushed but unpublished entries (u16). */
  get usedIdx(): number {
    return this.usedShadow;
  }

  /** Chains available and not taken; -1 (queue -> NEEDS_RESET) if avail.idx is too far ahead. */
  pending(): number {
    if (!this.ready()) return 0;
    // acquire: descriptors and ring entries written before avail.idx are visible after this load.
    const availIdx = Atomics.load(this.u16, this.availIdxI);
    const n = (availIdx - this.lastAvail) & 0xffff;
    if (n > this.size) {
      this.fail(RingError.AvailIdxTooFar, availIdx);
      return -1;
    }
    return n;
  }

  /** Takes and validates the next available chain into `out` (2.7.13 seen from the device). */
  pop(out: DeviceChain): PopResult {
    const n = this.pending();
    if (n < 0) return 'broken';
    if (n === 0) return 'empty';
    const q = this.size;
    const head = this.u16[this.availRingI + (this.lastAvail & this.mask)]!;
    if (head >= q) return this.failed(RingError.HeadOutOfRange, head);
    let d = head;
    let steps = 0;
    let nseg = 0;
    let total = 0;
    for (;;) {
      if (++steps > q) return this.failed(RingError.ChainLoop, head);
      const w = d << 2;
      const addrLo = this.u32[w]!;
      const addrHi = this.u32[w + 1]!;
      const len = this.u32[w + 2]!;
      const flags = this.u16[(d << 3) + 6]!;
      const next = this.u16[(d << 3) + 7]!;
      if (flags & VIRTQ_DESC_F_INDIRECT) return this.failed(RingError.IndirectUnsupported, d);
      const writable = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (this.isTx && writable) return this.failed(RingError.WriteOnlyInTx, d);
      if (!this.isTx && !writable) return this.failed(RingError.ReadOnlyInRx, d);
      if (len === 0) return this.failed(RingError.ZeroLength, d);
      if (addrHi !== 0 || addrLo < this.poolLo || addrLo + len > this.poolHi) {
        return this.failed(RingError.DescOutOfPool, d);
      }
      if (nseg === kMaxChainSegments) return this.failed(RingError.ChainTooLong, head);
      out.addr[nseg] = addrLo;
      out.len[nseg] = len;
      nseg++;
      total += len;
      if (total > kMaxFrameBytes) return this.failed(RingError.ChainTooLong, head);
      if (!(flags & VIRTQ_DESC_F_NEXT)) break;
      if (next >= q) return this.failed(RingError.NextOutOfRange, d);
      for (let k = 0; k < nseg - 1; k++)
        if (this.seen[k] === next) return this.failed(RingError.ChainLoop, head);
      if (next === d) return this.failed(RingError.ChainLoop, head);
      this.seen[nseg - 1] = d;
      d = next;
    }
    out.head = head;
    out.nseg = nseg;
    out.total = total;
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    return 'chain';
  }

  /** Gives the last popped chain back unused. */
  unpop(): void {
    this.lastAvail = (this.lastAvail - 1) & 0xffff;
  }

  /** Writes a used element (2.7.8), not yet visible to the driver. */
  pushUsed(head: number, len: number): void {
    const e = this.usedRingI + 2 * (this.usedShadow & this.mask);
    this.u32[e] = head;
    this.u32[e + 1] = len;
    this.usedShadow = (this.usedShadow + 1) & 0xffff;
  }

  /** Publishes pushed used elements; true if the driver wants an interrupt (2.7.10). */
  publishUsed(): boolean {
    const neu = this.usedShadow;
    const old = this.usedPublished;
    if (neu === old) return false;
    // release: the used elements above are visible before the new used.idx.
    Atomics.store(this.u16, this.usedIdxI, neu);
    this.usedPublished = neu;
    // after the used.idx store (seq-cst), pairs with the driver's used_event store + used.idx load.
    if (!this.eventIdx) return (Atomics.load(this.u16, this.availFlagsI) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    return vringNeedEvent(Atomics.load(this.u16, this.usedEventI), neu, old);
  }

  /** Before sleeping: avail_event = last_avail; true if buffers arrived meanwhile (don't sleep). */
  enableKick(): boolean {
    if (!this.ready()) return false;
    if (this.eventIdx) Atomics.store(this.u16, this.availEventI, this.lastAvail);
    else Atomics.store(this.u16, this.usedFlagsI, 0);
    return this.pending() > 0;
  }

  /**
   * Virtio 1.2 queue reset (2.6.1): indices to 0 on both sides (used.idx, used.flags, avail_event
   * and, like the native device, the driver's avail.idx), status cleared, state per `enable`.
   */
  reset(enable: boolean): void {
    this.lastAvail = 0;
    this.usedShadow = 0;
    this.usedPublished = 0;
    Atomics.store(this.u16, this.usedIdxI, 0);
    Atomics.store(this.u16, this.usedFlagsI, 0);
    Atomics.store(this.u16, this.availEventI, 0);
    Atomics.store(this.u16, this.availIdxI, 0);
    this.setStatus(enable ? QueueState.Ready : QueueState.Disabled, RingError.Ok, 0);
  }

  /** Marks the queue NEEDS_RESET with a reason. Idempotent: the first error stays. */
  fail(err: number, detail: number): void {
    if (this.state() === QueueState.NeedsReset) return;
    this.setStatus(QueueState.NeedsReset, err, detail);
  }

  /** QueueStatus error / detail words. */
  error(): number {
    return Atomics.load(this.hdr32, this.statusI + (QueueStatusOff.error >>> 2));
  }

  detail(): number {
    return Atomics.load(this.hdr32, this.statusI + (QueueStatusOff.detail >>> 2));
  }

  /** Binds a VID to this queue's status word (what the native side does on VLAN config). */
  setVid(vid: number): void {
    Atomics.store(this.hdr32, this.statusI + (QueueStatusOff.vid >>> 2), vid);
    Atomics.add(this.hdr32, RegionHeaderOff.configGeneration >>> 2, 1);
  }

  // ---- test conveniences (not in the native API) ----

  /** Scatters `data` into a popped (rx) chain; returns the bytes written (<= chain.total). */
  writeChain(chain: DeviceChain, data: Uint8Array): number {
    const u8 = new Uint8Array(this.sab);
    let done = 0;
    for (let s = 0; s < chain.nseg && done < data.length; s++) {
      const n = Math.min(chain.len[s]!, data.length - done);
      u8.set(data.subarray(done, done + n), chain.addr[s]!);
      done += n;
    }
    return done;
  }

  /** Gathers a popped (tx) chain's bytes. */
  readChain(chain: DeviceChain): Uint8Array {
    const u8 = new Uint8Array(this.sab);
    const out = new Uint8Array(chain.total);
    let at = 0;
    for (let s = 0; s < chain.nseg; s++) {
      out.set(u8.subarray(chain.addr[s]!, chain.addr[s]! + chain.len[s]!), at);
      at += chain.len[s]!;
    }
    return out;
  }

  private failed(err: number, detail: number): PopResult {
    this.fail(err, detail);
    return 'broken';
  }

  private setStatus(state: number, err: number, detail: number): void {
    Atomics.store(this.hdr32, this.statusI + (QueueStatusOff.error >>> 2), err);
    Atomics.store(this.hdr32, this.statusI + (QueueStatusOff.detail >>> 2), detail);
    Atomics.store(this.hdr32, this.statusI + (QueueStatusOff.state >>> 2), state);
    Atomics.add(this.hdr32, RegionHeaderOff.configGeneration >>> 2, 1);
  }
}

/**
 * Raw pokes at a queue's driver-owned memory, for writing malformed rings on purpose (what a buggy
 * or hostile driver could do). Offsets are the ABI's; nothing is checked.
 */
export class RawRing {
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  private readonly availIdxI: number;
  private readonly availRingI: number;
  private readonly usedRingI: number;
  private readonly usedIdxI: number;
  private readonly mask: number;

  constructor(sab: SharedArrayBuffer, index: number) {
    const q = new DataView(sab).getUint32(RegionHeaderOff.queueSize, true);
    const l = queueLayout(q);
    const base = queueBaseOffset(index, q);
    this.u16 = new Uint16Array(sab, base, l.stride >>> 1);
    this.u32 = new Uint32Array(sab, base, l.stride >>> 2);
    this.availIdxI = (l.availOff + kAvailIdxOff) >>> 1;
    this.availRingI = (l.availOff + kAvailRingOff) >>> 1;
    this.usedRingI = (l.usedOff + kUsedRingOff) >>> 2;
    this.usedIdxI = (l.usedOff + kUsedIdxOff) >>> 1;
    this.mask = q - 1;
  }

  desc(d: number, addr: number, len: number, flags: number, next: number, addrHi = 0): void {
    this.u32[d << 2] = addr;
    this.u32[(d << 2) + 1] = addrHi;
    this.u32[(d << 2) + 2] = len;
    this.u16[(d << 3) + 6] = flags;
    this.u16[(d << 3) + 7] = next;
  }

  descFlags(d: number): number {
    return this.u16[(d << 3) + 6]!;
  }

  descNext(d: number): number {
    return this.u16[(d << 3) + 7]!;
  }

  descAddr(d: number): number {
    return this.u32[d << 2]!;
  }

  descLen(d: number): number {
    return this.u32[(d << 2) + 2]!;
  }

  /** avail.ring[availIdx & (q-1)] = head. */
  avail(availIdx: number, head: number): void {
    this.u16[this.availRingI + (availIdx & this.mask)] = head;
  }

  availEntry(availIdx: number): number {
    return this.u16[this.availRingI + (availIdx & this.mask)]!;
  }

  setAvailIdx(v: number): void {
    Atomics.store(this.u16, this.availIdxI, v);
  }

  availIdx(): number {
    return Atomics.load(this.u16, this.availIdxI);
  }

  /** Writes a used element and optionally used.idx (a hostile device, for driver tests). */
  used(usedIdx: number, id: number, len: number): void {
    this.u32[this.usedRingI + 2 * (usedIdx & this.mask)] = id;
    this.u32[this.usedRingI + 2 * (usedIdx & this.mask) + 1] = len;
  }

  setUsedIdx(v: number): void {
    Atomics.store(this.u16, this.usedIdxI, v);
  }

  usedIdx(): number {
    return Atomics.load(this.u16, this.usedIdxI);
  }

  /** The id of the used element at used index `usedIdx`. */
  usedId(usedIdx: number): number {
    return this.u32[this.usedRingI + 2 * (usedIdx & this.mask)]!;
  }

  /** The len of the used element at used index `usedIdx`. */
  usedLen(usedIdx: number): number {
    return this.u32[this.usedRingI + 2 * (usedIdx & this.mask) + 1]!;
  }
}
