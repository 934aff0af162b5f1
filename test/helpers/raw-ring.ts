/**
 * Writes straight into a queue's shared ring, bypassing DriverQueue's checks: how tests play a
 * buggy or hostile driver against the native device.
 */
import {
  kAvailIdxOff,
  kAvailRingOff,
  kUsedIdxOff,
  queueBaseOffset,
  queueLayout,
} from '../../lib/virtio/layout';
import type { Region } from '../../lib/virtio/region';

export function writeDesc(
  r: Region,
  q: number,
  i: number,
  addr: number,
  len: number,
  flags: number,
  next: number,
) {
  const base = queueBaseOffset(q, r.queueSize) + queueLayout(r.queueSize).descOff + 16 * i;
  r.dv.setBigUint64(base, BigInt(addr), true);
  r.dv.setUint32(base + 8, len, true);
  r.dv.setUint16(base + 12, flags, true);
  r.dv.setUint16(base + 14, next, true);
}

function availBase(r: Region, q: number): number {
  return queueBaseOffset(q, r.queueSize) + queueLayout(r.queueSize).availOff;
}

export function availIdx(r: Region, q: number): number {
  return r.dv.getUint16(availBase(r, q) + kAvailIdxOff, true);
}

/** Appends `head` to the avail ring and publishes it (avail.idx + 1). */
export function pushAvail(r: Region, q: number, head: number): void {
  const b = availBase(r, q);
  const idx = availIdx(r, q);
  r.dv.setUint16(b + kAvailRingOff + 2 * (idx & (r.queueSize - 1)), head, true);
  setAvailIdx(r, q, (idx + 1) & 0xffff);
}

export function setAvailIdx(r: Region, q: number, idx: number): void {
  const u16 = new Uint16Array(r.sab);
  Atomics.store(u16, (availBase(r, q) + kAvailIdxOff) >>> 1, idx);
}

/** used.idx of queue q as the device last wrote it. */
export function usedIdx(r: Region, q: number): number {
  const b = queueBaseOffset(q, r.queueSize) + queueLayout(r.queueSize).usedOff;
  return r.dv.getUint16(b + kUsedIdxOff, true);
}

/** The head the avail ring offers at position `pos` (free-running), and its byte offset. */
export function availEntry(r: Region, q: number, pos: number): { head: number; off: number } {
  const off = availBase(r, q) + kAvailRingOff + 2 * (pos & (r.queueSize - 1));
  return { head: r.dv.getUint16(off, true), off };
}
