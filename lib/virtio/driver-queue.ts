/**
 * The driver side of ONE split virtqueue in the region (virtio 1.2, 2.7 "Split Virtqueues";
 * 2.7.13 "Supplying Buffers to The Device", 2.7.14 "Receiving Used Buffers From The Device").
 *
 * Ownership: the driver writes the descriptor table and the avail ring (flags, idx, ring,
 * used_event); the device writes the used ring (flags, idx, ring, avail_event). Indices are
 * free-running u16s: all index math masks with 0xffff, and a ring slot is `idx & (size - 1)`.
 *
 * Memory ordering: plain typed-array writes fill descriptors and ring entries; ONE seq-cst
 * `Atomics.store` of avail.idx publishes them (the release the spec asks for in 2.7.13.3), and ONE
 * seq-cst `Atomics.load` of used.idx makes the device's used entries visible (the acquire of
 * 2.7.14). Event-index checks are store-then-load on both sides (2.7.10), which seq-cst orders.
 *
 * Hot path (add*, publish, harvest, enableInterrupts): no allocation, no closures; batch calls take
 * caller-owned typed arrays and return counts.
 *
 * The descriptor free list is chained through a driver-private copy of `desc.next` (as Linux's
 * vring does with desc_extra), so nothing the device could scribble on is trusted for bookkeeping.
 *
 * The used ring is untrusted input, as the avail ring is to the device (native/virtq.cc): harvest
 * checks used.idx against what was published and every used element against the driver's own
 * record of which heads the device holds. The first impossible entry stops the queue with a coded
 * error ({@link broken}, and {@link onBroken}); a stopped queue harvests nothing and never asks to
 * be harvested again, so every harvest / enableInterrupts loop ends. reclaimAfterReset (after a
 * virtio queue reset) brings it back.
 */
import { CondisError } from '../errors';
import type { BufferPool } from './buffer-pool';
import { checkInt, invalidArg } from './invalid-arg';
import {
  kAvailIdxOff,
  kAvailRingOff,
  kMaxChainSegments,
  kUsedIdxOff,
  kUsedRingOff,
  QueueState,
  QueueStatusOff,
  queueBaseOffset,
  queueStatusOffset,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  vringNeedEvent,
} from './layout';
import { type QueueStatusSnapshot, type Region, readQueueStatus } from './region';

// Module-local copies of the flags used per descriptor: under tsx/esbuild every imported binding
// is a getter that V8 does not inline (measured ~27 ns a read); tsc output is unaffected.
const F_NEXT = VIRTQ_DESC_F_NEXT;
const F_WRITE = VIRTQ_DESC_F_WRITE;

// Who holds a descriptor, per the driver's own record: `held[d]`, one number so the per-entry check
// is one load. A head made available holds the publish() count at the time its avail entry was
// written (`publishes`): the device's once a later publish() has shown it, i.e. held < publishes.
// A half on top marks a head the device had returned before: returned again before that publish,
// it is a repeat rather than an id the device never saw.
/** Not the head of a chain the driver made available (free, never posted, or inside a chain). */
const HELD_DRIVER = -1;
/** A head the device returned (harvest) that the driver has not made available again. */
const HELD_RETURNED = -2;
/** Added to the publish count for a head made available again after the device returned it. */
const HELD_AGAIN = 0.5;

/** The coded errors a used ring can earn (registered in lib/errors.ts and the README). */
export const UsedRingError = {
  /** used.idx runs past what the driver published. */
  IdxTooFar: 'ERR_CONDIS_RING_USED_IDX_TOO_FAR',
  /** A used id beyond the table, or not the head of a chain the device was shown. */
  IdUnknown: 'ERR_CONDIS_RING_USED_ID_UNKNOWN',
  /** A used id the device had already returned (not made available to it again since). */
  IdRepeated: 'ERR_CONDIS_RING_USED_ID_REPEATED',
  /** A receive chain's used len past its device-writable bytes. */
  LenTooLong: 'ERR_CONDIS_RING_USED_LEN_TOO_LONG',
} as const;

const usedRingCodes: ReadonlySet<string> = new Set(Object.values(UsedRingError));

export class DriverQueue {
  /** Queue number in the region (virtio-net 5.1.2: 2k = receiveq k, 2k+1 = transmitq k). */
  readonly index: number;
  /** Descriptors (= ring entries) in this queue. */
  readonly size: number;
  private readonly region: Region;
  private readonly mask: number;
  private readonly eventIdx: boolean;
  private readonly poolLo: number;
  private readonly poolHi: number;
  // Views over this queue only, in u16 / u32 units from the queue's base.
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  private readonly availIdxI: number;
  private readonly availRingI: number;
  private readonly usedEventI: number;
  private readonly usedIdxI: number;
  private readonly usedRingI: number;
  private readonly availEventI: number;
  private readonly stateI: number;
  // Driver-private bookkeeping, indexed by descriptor number.
  private readonly next: Uint16Array;
  private readonly tokens: Uint32Array;
  /** Descriptors in the chain headed here; 0 = not the head of an in-flight chain. */
  private readonly chainLen: Uint16Array;
  /** Device-writable bytes of the chain headed here (bound for used.len). */
  private readonly chainCap: Float64Array;
  /** HELD_* or the publish count per descriptor: which heads the device may return (O(1) check). */
  private readonly held: Float64Array;
  /** publish() calls that published something (a double: exact far beyond any run's length). */
  private publishes = 0;
  private freeHead = 0;
  private numFree: number;
  private inflight = 0;
  private availShadow = 0; // avail idx including entries not yet published
  private availPublished = 0; // avail idx the device can see
  private lastUsed = 0; // next used entry to harvest
  private brokenError: CondisError | null = null;
  /**
   * Called once, synchronously, when the queue stops on an impossible used entry, from inside
   * harvest()/harvestAndRepost() (the Device defers its 'ringError' event from here). Must not
   * harvest, reset or throw.
   */
  onBroken: ((err: CondisError) => void) | null = null;

  constructor(region: Region, index: number) {
    checkInt('queue index', index, 0, region.numQueues - 1);
    const q = region.queueSize;
    const l = region.layout;
    // In the buffer, not the region: a region of createSharedRegions starts past others' queues.
    const base = region.byteOffset + queueBaseOffset(index, q);
    this.index = index;
    this.size = q;
    this.region = region;
    this.mask = q - 1;
    this.eventIdx = region.eventIdx;
    this.poolLo = region.poolOffset;
    this.poolHi = region.poolOffset + region.poolSize;
    this.u16 = new Uint16Array(region.sab, base, l.stride >>> 1);
    this.u32 = new Uint32Array(region.sab, base, l.stride >>> 2);
    this.availIdxI = (l.availOff + kAvailIdxOff) >>> 1;
    this.availRingI = (l.availOff + kAvailRingOff) >>> 1;
    this.usedEventI = l.usedEventOff >>> 1;
    this.usedIdxI = (l.usedOff + kUsedIdxOff) >>> 1;
    this.usedRingI = (l.usedOff + kUsedRingOff) >>> 2;
    this.availEventI = l.availEventOff >>> 1;
    this.stateI = (queueStatusOffset(index) + QueueStatusOff.state) >>> 2;
    this.next = new Uint16Array(q);
    this.tokens = new Uint32Array(q);
    this.chainLen = new Uint16Array(q);
    this.chainCap = new Float64Array(q);
    this.held = new Float64Array(q).fill(HELD_DRIVER);
    this.numFree = q;
    this.resetFreeList();
  }

  /** Free descriptors. */
  freeDescriptors(): number {
    return this.numFree;
  }

  /** Chains made available and not yet harvested (published or not). */
  inFlight(): number {
    return this.inflight;
  }

  /**
   * Non-null once the device returned something impossible (code: one of {@link UsedRingError});
   * harvest() then returns 0 and enableInterrupts() false until reclaimAfterReset().
   */
  get broken(): CondisError | null {
    return this.brokenError;
  }

  /**
   * Whether a 'ringError' reported for this queue still stands, so that whoever repairs the queue
   * resets it once per fault: the driver's own stop ({@link UsedRingError}) while it is still this
   * queue's {@link broken} — reported a microtask late, it may find the queue reset already — and
   * the device's while the queue is in NEEDS_RESET. A queue reset clears both. Cold path.
   */
  faultStands(err: CondisError): boolean {
    return usedRingCodes.has(err.code) ? this.brokenError === err : this.state() === QueueState.NeedsReset;
  }

  /** The driver's avail idx, including entries not yet published (u16). */
  get availIdx(): number {
    return this.availShadow;
  }

  /** The next used idx harvest() will read (u16). */
  get lastUsedIdx(): number {
    return this.lastUsed;
  }

  /**
   * Adds a one-descriptor chain (2.7.13.1) for [addr, addr+len) of the region, device-writable for
   * a receive buffer. Writes the descriptor and the avail ring entry; the device sees it only after
   * publish(). Returns the head descriptor, or -1 if no descriptor is free. `token` (u32) comes
   * back from harvest() with this chain. Throws ERR_CONDIS_INVALID_ARG if the buffer leaves the
   * pool or len is 0 (the device would fail the queue for it).
   */
  addBuffer(addr: number, len: number, deviceWritable: boolean, token: number): number {
    if (this.numFree === 0) return -1;
    this.checkSegment(addr, len);
    const h = this.freeHead;
    this.freeHead = this.next[h]!;
    this.numFree--;
    this.writeDesc(h, addr, len, deviceWritable ? F_WRITE : 0, 0);
    this.chainLen[h] = 1;
    this.chainCap[h] = deviceWritable ? len : 0;
    this.commit(h, token);
    return h;
  }

  /**
   * Supplies receive buffers (2.7.13): every free slot of `pool`, one device-writable descriptor
   * each (its whole slot; token = the slot number, what harvest() gives back), until the pool or
   * the free descriptors run out. Not published: the caller publishes (and kicks) once. Returns how
   * many were added. The one loop behind FramePort.postRx() and the miniport's QueuePair.fillRx():
   * a method of this one class, so the calls inside stay monomorphic; nothing allocated.
   */
  addReceiveBuffers(pool: BufferPool): number {
    const len = pool.slotSize;
    let n = 0;
    while (this.numFree > 0) {
      const slot = pool.alloc();
      if (slot < 0) break;
      this.addBuffer(pool.offsetOf(slot), len, true, slot);
      n++;
    }
    return n;
  }

  /**
   * Adds a chain of `count` descriptors: segment k is [addrs[k], addrs[k]+lens[k]). Segments
   * [0, numReadable) are device-readable and the rest device-writable: the order virtio 1.2
   * requires (2.7.4-2.7.5, readable before writable) holds by construction. The descriptor arrays
   * are read, never kept (pass preallocated typed arrays). Returns the head descriptor, or -1
   * (nothing consumed) if fewer than `count` descriptors are free. Throws ERR_CONDIS_INVALID_ARG
   * on a bad count or segment (checked before anything is written).
   */
  addChain(
    addrs: ArrayLike<number>,
    lens: ArrayLike<number>,
    count: number,
    numReadable: number,
    token: number,
  ): number {
    if (!(count >= 1 && count <= kMaxChainSegments && count <= this.size && Number.isInteger(count))) {
      throw invalidArg(
        'range',
        `chain of ${count} segments: must be 1..${Math.min(kMaxChainSegments, this.size)}`,
      );
    }
    if (!(numReadable >= 0 && numReadable <= count)) {
      throw invalidArg('range', `numReadable ${numReadable} not in [0, ${count}]`);
    }
    if (addrs.length < count || lens.length < count) {
      throw invalidArg('range', `addrs/lens hold fewer than ${count} segments`);
    }
    if (this.numFree < count) return -1;
    for (let k = 0; k < count; k++) this.checkSegment(addrs[k]!, lens[k]!);
    const h = this.freeHead;
    let d = h;
    let cap = 0;
    for (let k = 0; k < count; k++) {
      const writable = k >= numReadable;
      const len = lens[k]!;
      if (writable) cap += len;
      if (k + 1 < count) {
        const nxt = this.next[d]!;
        this.writeDesc(d, addrs[k]!, len, (writable ? F_WRITE : 0) | F_NEXT, nxt);
        // Inside the chain: the device must never return it as an id (commit() marks the head).
        this.held[nxt] = HELD_DRIVER;
        d = nxt;
      } else {
        this.writeDesc(d, addrs[k]!, len, writable ? F_WRITE : 0, 0);
      }
    }
    this.freeHead = this.next[d]!;
    this.numFree -= count;
    this.chainLen[h] = count;
    this.chainCap[h] = cap;
    this.commit(h, token);
    return h;
  }

  /**
   * Makes every chain added since the last publish available (2.7.13.3) and says whether the
   * device must be notified (2.7.13.4, with VIRTIO_F_EVENT_IDX: vring_need_event(avail_event,
   * new, old)). Returns false if there was nothing to publish.
   */
  publish(): boolean {
    const neu = this.availShadow;
    const old = this.availPublished;
    if (neu === old) return false;
    // ORDERING: seq-cst store = release: the device's acquire load of avail.idx sees every
    // descriptor and avail ring entry written before it (2.7.13.3).
    Atomics.store(this.u16, this.availIdxI, neu);
    this.availPublished = neu;
    this.publishes++;
    if (!this.eventIdx) return true;
    // ORDERING: loaded after the avail.idx store (seq-cst total order, the full barrier of 2.7.13.4):
    // a device going to sleep stores avail_event then re-reads avail.idx, so one of us sees the other.
    const availEvent = Atomics.load(this.u16, this.availEventI);
    return vringNeedEvent(availEvent, neu, old);
  }

  /** Used entries the device has published and harvest() has not taken. */
  usedPending(): number {
    // ORDERING: seq-cst load of used.idx; only a count, the entries are read in harvest().
    return this.usedBefore(Atomics.load(this.u16, this.usedIdxI));
  }

  /**
   * Used entries up to used index `usedIdx` that harvest() has not taken: with the index a queue
   * reset reported, the frames the reset discarded.
   */
  usedBefore(usedIdx: number): number {
    const n = (usedIdx - this.lastUsed) & 0xffff;
    // Never more than the device was shown: an impossible index counts no phantom frames.
    const shown = (this.availPublished - this.lastUsed) & 0xffff;
    return Math.min(n, shown);
  }

  /**
   * Takes up to `max` used chains (2.7.14): writes their tokens and used lengths to outTokens /
   * outLens from index 0, frees their descriptors and returns how many. Checks each element before
   * taking it; the first impossible one stops the queue ({@link broken}: used.idx past what was
   * published, an id that is not a head the device holds — unknown or already returned — or a len
   * beyond a receive chain's writable bytes). The entries before it are returned as usual; from
   * then on it returns 0.
   *
   * outLens[k]: for a chain with device-writable descriptors, the bytes the device wrote (2.7.8);
   * for a transmit chain (no writable descriptor), the TxStatus the device reported (virtq.h).
   */
  harvest(outTokens: Uint32Array, outLens: Uint32Array, max: number): number {
    return this.take(outTokens, outLens, max, false);
  }

  /**
   * harvest() for buffers the driver gives straight back, as a receive path that reads each frame
   * where the device wrote it: the chains taken are made available again at once, unchanged (same
   * descriptors, same token), one avail ring entry each and no descriptor write; a driver may
   * offer a chain it got back as it is (2.7.13). The device sees them after the next publish(),
   * so the caller reads the frames first and publishes after. Returns how many. A head taken here
   * is not the device's again until that publish: returned before it, it is a repeated id.
   */
  harvestAndRepost(outTokens: Uint32Array, outLens: Uint32Array, max: number): number {
    return this.take(outTokens, outLens, max, true);
  }

  private take(outTokens: Uint32Array, outLens: Uint32Array, max: number, repost: boolean): number {
    if (this.brokenError !== null) return 0;
    // ORDERING: seq-cst load = acquire: the device wrote the used elements before it stored
    // used.idx, so the entries below are complete.
    const usedIdx = Atomics.load(this.u16, this.usedIdxI);
    const pending = (usedIdx - this.lastUsed) & 0xffff;
    // Chains the device has been shown and not given back: the most it can have used.
    const shown = (this.availPublished - this.lastUsed) & 0xffff;
    if (pending > shown) {
      this.stop(
        UsedRingError.IdxTooFar,
        this.lastUsed,
        usedIdx,
        `used.idx ${usedIdx} is ${pending} entries past used idx ${this.lastUsed}, only ${shown} were published`,
      );
      return 0;
    }
    let n = pending;
    if (n > max) n = max;
    if (n > outTokens.length) n = outTokens.length;
    if (n > outLens.length) n = outLens.length;
    const u16 = this.u16;
    const u32 = this.u32;
    const chainLen = this.chainLen;
    const chainCap = this.chainCap;
    const held = this.held;
    const publishes = this.publishes;
    const tokens = this.tokens;
    const next = this.next;
    const mask = this.mask;
    const size = this.size;
    const usedRingI = this.usedRingI;
    const availRingI = this.availRingI;
    let lastUsed = this.lastUsed;
    let k = 0;
    for (; k < n; k++) {
      const e = usedRingI + 2 * (lastUsed & mask);
      const id = u32[e]!;
      const len = u32[e + 1]!;
      // The device holds `id` only if it is a head made available (held >= 0) whose avail entry
      // a publish() has shown since (held < publishes).
      const h = id < size ? held[id]! : HELD_DRIVER;
      if (!(h >= 0 && h < publishes)) {
        this.badId(id, lastUsed);
        break;
      }
      // A chain with device-writable bytes (receive) reports bytes written, bounded by them; a
      // chain without (transmit) reports a TxStatus in len (the project's extension, virtq.h).
      const cap = chainCap[id]!;
      if (cap !== 0 && len > cap) {
        this.stop(
          UsedRingError.LenTooLong,
          lastUsed,
          len,
          `used len ${len} at used idx ${lastUsed} for head ${id} exceeds its ${cap} writable bytes`,
        );
        break;
      }
      outTokens[k] = tokens[id]!;
      outLens[k] = len;
      lastUsed = (lastUsed + 1) & 0xffff;
      if (repost) {
        // Still in flight: only a new avail entry for the same head, the device's after publish().
        held[id] = publishes + HELD_AGAIN;
        u16[availRingI + (this.availShadow & mask)] = id;
        this.availShadow = (this.availShadow + 1) & 0xffff;
        continue;
      }
      held[id] = HELD_RETURNED;
      // Return the chain to the free list: its descriptors are still linked through `next`.
      let tail = id;
      for (let c = chainLen[id]! - 1; c > 0; c--) tail = next[tail]!;
      next[tail] = this.freeHead;
      this.freeHead = id;
      this.numFree += chainLen[id]!;
      chainLen[id] = 0;
      this.inflight--;
    }
    this.lastUsed = lastUsed;
    return k;
  }

  /** Stops the queue on a used id the device does not hold (the cold half of take()'s check). */
  private badId(id: number, at: number): void {
    const h = id < this.size ? this.held[id]! : HELD_DRIVER;
    // Returned and not offered again, or offered again and returned before the publish.
    if (h === HELD_RETURNED || h - Math.floor(h) === HELD_AGAIN) {
      this.stop(
        UsedRingError.IdRepeated,
        at,
        id,
        `used id ${id} at used idx ${at} was already returned${h >= 0 ? ' (made available again, not yet published)' : ''}`,
      );
    } else {
      this.stop(
        UsedRingError.IdUnknown,
        at,
        id,
        id >= this.size
          ? `used id ${id} at used idx ${at} is beyond the ${this.size}-entry table`
          : `used id ${id} at used idx ${at} is not the head of a chain the device was shown`,
      );
    }
  }

  /** Marks the queue broken (first error wins) and tells onBroken. Cold path: allocates. */
  private stop(code: string, usedIdx: number, value: number, why: string): void {
    const q = this.index;
    const err = new CondisError(
      code,
      `queue ${q} (${q % 2 === 0 ? 'receiveq' : 'transmitq'} ${q >>> 1}) stopped by the driver: ${why}`,
      { queue: q, usedIdx, detail: value },
    );
    this.brokenError = err;
    this.onBroken?.(err);
  }

  /**
   * Asks for an interrupt once the device publishes more than `delay` (default 0) entries past the
   * ones harvested: used_event = last seen used idx + delay (2.7.10). Returns true if that many had
   * already arrived, in which case the caller must harvest again instead of sleeping.
   *
   * Interrupts are suppressed simply by not calling this: a stale used_event is not crossed again
   * until the u16 index wraps (at worst one spurious interrupt per 65536 entries). Always false on
   * a {@link broken} queue.
   */
  enableInterrupts(delay = 0): boolean {
    // A stopped queue has nothing to harvest, whatever used.idx says: report no work, or every
    // harvest loop would go round forever.
    if (this.brokenError !== null) return false;
    // ORDERING: seq-cst store then seq-cst load (2.7.10): a device publishing concurrently either
    // sees this used_event and interrupts, or we see its used.idx below and keep harvesting.
    Atomics.store(this.u16, this.usedEventI, (this.lastUsed + delay) & 0xffff);
    // ORDERING: must follow the used_event store in the seq-cst order; see above.
    const usedIdx = Atomics.load(this.u16, this.usedIdxI);
    return ((usedIdx - this.lastUsed) & 0xffff) > delay;
  }

  /**
   * After the device reset this queue (virtio 1.2, 2.6.1 "Virtqueue Reset": the device zeroed
   * used.idx and its private state and no longer touches the queue): writes the tokens of every
   * chain that was in flight to outTokens (in head-descriptor order, not submission order), zeroes
   * the driver's part of the ring (descriptors, avail flags/ring/used_event, avail.idx last),
   * rebuilds the free list and returns the count. The native reset already zeroed avail.idx, so
   * this is safe right after `resetQueue(q)` returns, even with the queue re-enabled, provided
   * nothing was added in between.
   */
  reclaimAfterReset(outTokens: Uint32Array): number {
    if (outTokens.length < this.inflight) {
      throw invalidArg('range', `outTokens holds ${outTokens.length} tokens, ${this.inflight} in flight`);
    }
    let n = 0;
    // Nothing in flight (a queue that drained): every descriptor is already on the free list, so
    // the O(queue size) scan and rebuild below are skipped — this runs on every deactivation.
    const idle = this.inflight === 0;
    for (let h = 0; !idle && h < this.size; h++) {
      if (this.chainLen[h] !== 0) {
        outTokens[n++] = this.tokens[h]!;
        this.chainLen[h] = 0;
        this.held[h] = HELD_DRIVER;
      }
    }
    const l = this.region.layout;
    // Descriptors and ring entries are left as they are: the device reads neither beyond
    // avail.idx, and each is rewritten before it is offered again. Zeroing them would cost a
    // slow element-wise fill (typed arrays over a SharedArrayBuffer) on every deactivation.
    // Plain writes: the device does not read a reset queue; the avail.idx store below orders them.
    this.u16[l.availOff >>> 1] = 0; // avail.flags
    this.u16[this.usedEventI] = 0;
    // ORDERING: seq-cst store of avail.idx = 0 last, so a device re-enabled after this sees an
    // empty ring.
    Atomics.store(this.u16, this.availIdxI, 0);
    this.availShadow = 0;
    this.availPublished = 0;
    this.lastUsed = 0;
    this.inflight = 0;
    this.brokenError = null;
    if (!idle) this.resetFreeList();
    return n;
  }

  /** The device's QueueStatus for this queue (allocates; not for the per-packet path). */
  status(): QueueStatusSnapshot {
    return readQueueStatus(this.region, this.index);
  }

  /** The device's QueueState for this queue (no allocation). */
  state(): number {
    // ORDERING: seq-cst load of a device-written word; a fresh value, nothing else depends on it.
    return Atomics.load(this.region.u32, this.stateI);
  }

  private resetFreeList(): void {
    const q = this.size;
    for (let i = 0; i < q; i++) this.next[i] = (i + 1) & this.mask;
    this.freeHead = 0;
    this.numFree = q;
  }

  private checkSegment(addr: number, len: number): void {
    if (!(len > 0 && len <= 0xffffffff && addr >= this.poolLo && addr + len <= this.poolHi)) {
      throw invalidArg(
        'range',
        `buffer [${addr}, ${addr}+${len}) must be non-empty and inside the pool [${this.poolLo}, ${this.poolHi})`,
      );
    }
  }

  private writeDesc(d: number, addr: number, len: number, flags: number, next: number): void {
    const w = d << 2; // 16-byte descriptor = 4 u32 words
    this.u32[w] = addr; // addr low word (the region is < 4 GiB)
    this.u32[w + 1] = 0; // addr high word
    this.u32[w + 2] = len;
    this.u16[(d << 3) + 6] = flags;
    this.u16[(d << 3) + 7] = next;
  }

  /** Records the chain's token and writes its avail ring entry (not yet published). */
  private commit(head: number, token: number): void {
    this.tokens[head] = token;
    // A head the device returned before gets the half: returned again before this entry is
    // published, it is a repeat, not an id the device never saw.
    this.held[head] = this.publishes + (this.held[head] === HELD_RETURNED ? HELD_AGAIN : 0);
    this.u16[this.availRingI + (this.availShadow & this.mask)] = head;
    this.availShadow = (this.availShadow + 1) & 0xffff;
    this.inflight++;
  }
}
