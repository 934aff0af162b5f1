import { describe, expect, it } from 'vitest';
import { BufferPool, createRegion } from '../../../lib/virtio';

/** lib/virtio's argument errors: CondisError ERR_CONDIS_INVALID_ARG (RangeError before issue 11). */
const INVALID_ARG = expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' });

const region = () => createRegion({ queuePairs: 1, queueSize: 16, bufferSize: 128, buffersPerQueue: 16 });

describe('BufferPool', () => {
  it('hands out every slot once, then -1', () => {
    const r = region();
    const pool = new BufferPool(r);
    expect(pool.capacity).toBe(32);
    const seen = new Set<number>();
    for (let i = 0; i < 32; i++) {
      const s = pool.alloc();
      expect(s).toBeGreaterThanOrEqual(0);
      expect(seen.has(s)).toBe(false);
      seen.add(s);
    }
    expect(pool.alloc()).toBe(-1);
    expect(pool.available()).toBe(0);
    expect(seen.size).toBe(32);
  });

  it('never hands out a slot twice across random alloc/free', () => {
    const pool = new BufferPool(region());
    const held: number[] = [];
    const isHeld = new Uint8Array(32);
    let x = 12345;
    for (let i = 0; i < 20000; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      if (x & 0x10000 && held.length > 0) {
        const j = x % held.length;
        const s = held[j]!;
        held[j] = held[held.length - 1]!;
        held.pop();
        isHeld[s] = 0;
        pool.free(s);
      } else {
        const s = pool.alloc();
        if (s === -1) {
          if (held.length !== 32) throw new Error('pool ran dry early');
          continue;
        }
        if (isHeld[s] || !pool.isAllocated(s)) throw new Error(`slot ${s} handed out twice`);
        isHeld[s] = 1;
        held.push(s);
      }
      if (pool.available() + held.length !== 32) throw new Error('slots lost');
    }
    expect(held.length + pool.available()).toBe(32);
  });

  it('maps slots to page-aligned pool offsets and back', () => {
    const r = region();
    const pool = new BufferPool(r);
    expect(pool.offsetOf(0)).toBe(r.poolOffset);
    expect(pool.offsetOf(5)).toBe(r.poolOffset + 5 * 128);
    expect(pool.slotOf(r.poolOffset + 5 * 128)).toBe(5);
    expect(pool.slotOf(r.poolOffset + 5 * 128 + 1)).toBe(-1);
    expect(pool.slotOf(r.poolOffset - 128)).toBe(-1);
    expect(pool.slotOf(r.poolOffset + 32 * 128)).toBe(-1);
    expect(pool.offsetOf(31) + 128).toBe(r.poolOffset + r.poolSize);
  });

  it('sub-pools manage disjoint ranges', () => {
    const r = region();
    const a = new BufferPool(r, 0, 16);
    const b = new BufferPool(r, 16, 16);
    expect(a.alloc()).toBe(0);
    expect(b.alloc()).toBe(16);
    expect(b.offsetOf(16)).toBe(r.poolOffset + 16 * 128);
    expect(() => a.free(16)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }));
    expect(() => new BufferPool(r, 16, 17)).toThrow(INVALID_ARG);
  });

  it('rejects double free and foreign slots', () => {
    const pool = new BufferPool(region());
    const s = pool.alloc();
    pool.free(s);
    expect(() => pool.free(s)).toThrow(/not allocated/);
    expect(() => pool.free(99)).toThrow(/not in this pool/);
    expect(() => pool.free(1.5)).toThrow(INVALID_ARG);
  });

  it('views, writes and reads a slot in the region', () => {
    const r = region();
    const pool = new BufferPool(r);
    const s = pool.alloc();
    expect(pool.write(s, Uint8Array.of(1, 2, 3, 4, 5), 10, 1, 4)).toBe(3);
    expect([...r.u8.subarray(pool.offsetOf(s) + 10, pool.offsetOf(s) + 13)]).toEqual([2, 3, 4]);
    const v = pool.view(s, 16);
    expect(v.length).toBe(16);
    expect(v.buffer).toBe(r.sab);
    expect(v[11]).toBe(3);
    const out = new Uint8Array(8);
    expect(pool.read(s, out, 3, 10, 2)).toBe(3);
    expect([...out]).toEqual([0, 0, 2, 3, 4, 0, 0, 0]);
    expect(() => pool.write(s, new Uint8Array(200))).toThrow(INVALID_ARG);
    expect(() => pool.view(s, 129)).toThrow(INVALID_ARG);
    expect(() => pool.read(s, out, 9)).toThrow(INVALID_ARG);
  });
});
