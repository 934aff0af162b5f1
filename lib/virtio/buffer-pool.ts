/**
 * Fixed-size buffer slots over (part of) the region's pool. The buffers a driver supplies to the
 * device (virtio 1.2, 2.7.13 "Supplying Buffers to The Device") must live in the pool, because the
 * device rejects a descriptor whose [addr, addr+len) leaves it (RingError.DescOutOfPool).
 *
 * The free list is a preallocated stack of slot numbers: alloc/free allocate nothing. A slot's
 * byte offset in the region is what goes into a descriptor's addr.
 */
import { checkInt, invalidArg } from './invalid-arg';
import type { Region } from './region';

export class BufferPool {
  /** The region's bytes; index with {@link offsetOf} for allocation-free access. */
  readonly bytes: Uint8Array;
  readonly slotSize: number;
  /** First slot (global pool slot number) this pool manages. */
  readonly firstSlot: number;
  /** Number of slots this pool manages. */
  readonly capacity: number;
  private readonly base: number;
  private readonly stack: Uint32Array;
  private readonly owned: Uint8Array;
  private top: number;

  /**
   * Manages pool slots [firstSlot, firstSlot + count) of `region` (default: the whole pool). Give
   * each queue its own range (e.g. firstSlot = q * region.buffersPerQueue) to keep them apart.
   */
  constructor(region: Region, firstSlot = 0, count = region.bufferCount - firstSlot) {
    checkInt('firstSlot', firstSlot, 0, region.bufferCount - 1);
    checkInt('count', count, 1, region.bufferCount - firstSlot);
    this.bytes = region.u8;
    this.slotSize = region.bufferSize;
    this.firstSlot = firstSlot;
    this.capacity = count;
    this.base = region.poolOffset + firstSlot * region.bufferSize;
    this.stack = new Uint32Array(count);
    this.owned = new Uint8Array(count);
    // Lowest slot on top, so a fresh pool hands out firstSlot, firstSlot+1, ...
    for (let i = 0; i < count; i++) this.stack[i] = firstSlot + count - 1 - i;
    this.top = count;
  }

  /** Slots free right now. */
  available(): number {
    return this.top;
  }

  /** Takes a free slot: its (global) slot number, or -1 if none is free. O(1), no allocation. */
  alloc(): number {
    if (this.top === 0) return -1;
    const slot = this.stack[--this.top]!;
    this.owned[slot - this.firstSlot] = 1;
    return slot;
  }

  /** Returns a slot. Throws ERR_CONDIS_INVALID_ARG on a slot not from this pool or not allocated. */
  free(slot: number): void {
    const i = slot - this.firstSlot;
    if (!(i >= 0 && i < this.capacity && Number.isInteger(i))) {
      throw invalidArg('range', `slot ${slot} is not in this pool`);
    }
    if (this.owned[i] !== 1) throw invalidArg('range', `slot ${slot} is not allocated (double free?)`);
    this.owned[i] = 0;
    this.stack[this.top++] = slot;
  }

  /** Returns the first `n` slots of `slots` (the tokens a queue reset handed back, say). */
  freeMany(slots: ArrayLike<number>, n: number): void {
    for (let i = 0; i < n; i++) this.free(slots[i]!);
  }

  /** True if `slot` is currently allocated. */
  isAllocated(slot: number): boolean {
    return this.owned[slot - this.firstSlot] === 1;
  }

  /** Byte offset of `slot` in the region: the descriptor addr. No checks (hot path). */
  offsetOf(slot: number): number {
    return this.base + (slot - this.firstSlot) * this.slotSize;
  }

  /** The slot whose buffer starts at region offset `offset`, or -1 if none does. */
  slotOf(offset: number): number {
    const rel = offset - this.base;
    if (rel < 0 || rel % this.slotSize !== 0) return -1;
    const i = rel / this.slotSize;
    return i < this.capacity ? this.firstSlot + i : -1;
  }

  /** A Uint8Array over the first `len` bytes of `slot` (allocates a view object). */
  view(slot: number, len: number = this.slotSize): Uint8Array {
    if (!(len >= 0 && len <= this.slotSize)) throw invalidArg('range', `len ${len} exceeds the slot size`);
    const off = this.offsetOf(slot);
    return this.bytes.subarray(off, off + len);
  }

  /**
   * Copies src[srcStart, srcEnd) into `slot` at byte `at`; returns the bytes copied. Allocates at
   * most one temporary view (when copying part of src); for zero allocation index {@link bytes}
   * at {@link offsetOf} directly.
   */
  write(slot: number, src: Uint8Array, at = 0, srcStart = 0, srcEnd = src.length): number {
    const n = srcEnd - srcStart;
    if (!(at >= 0 && srcStart >= 0 && n >= 0 && srcEnd <= src.length && at + n <= this.slotSize)) {
      throw invalidArg('range', `${n} bytes at ${at} do not fit a ${this.slotSize}-byte slot`);
    }
    const part = srcStart === 0 && srcEnd === src.length ? src : src.subarray(srcStart, srcEnd);
    this.bytes.set(part, this.offsetOf(slot) + at);
    return n;
  }

  /**
   * Copies `len` bytes of `slot` from byte `at` into dst at dstStart; returns the bytes copied.
   * Allocates one temporary view of the source.
   */
  read(slot: number, dst: Uint8Array, len: number, at = 0, dstStart = 0): number {
    if (
      !(at >= 0 && len >= 0 && dstStart >= 0 && at + len <= this.slotSize && dstStart + len <= dst.length)
    ) {
      throw invalidArg('range', `cannot read ${len} bytes at ${at} of a ${this.slotSize}-byte slot`);
    }
    const src = this.offsetOf(slot) + at;
    dst.set(this.bytes.subarray(src, src + len), dstStart);
    return len;
  }
}
