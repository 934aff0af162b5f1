import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  kHeaderBytes,
  kMaxQueues,
  kQueueStatusBytes,
  kQueueStatusOff,
  layoutFacts,
  poolOffsetFor,
  queueLayout,
  RingError,
  ringErrorName,
  vringNeedEvent,
} from '../../../lib/virtio/layout';

/** Every `constexpr uint{16,32}_t NAME = VALUE;` and enumerator `kName = VALUE,` in virtq.h. */
function headerConstants(): Map<string, number> {
  const src = readFileSync(join(__dirname, '../../../native/virtq.h'), 'utf8');
  const out = new Map<string, number>();
  for (const m of src.matchAll(/constexpr uint(?:16|32)_t (\w+) = (0x[0-9a-fA-F]+|\d+)\s*;/g)) {
    out.set(m[1]!, Number(m[2]));
  }
  for (const m of src.matchAll(/^\s+(k\w+) = (\d+),/gm)) out.set(m[1]!, Number(m[2]));
  const kMaxQueuePairs = out.get('kMaxQueuePairs');
  if (kMaxQueuePairs !== undefined) out.set('kMaxQueues', 2 * kMaxQueuePairs);
  return out;
}

describe('layout mirrors native/virtq.h', () => {
  it('pins queue_layout(256) like the static_asserts', () => {
    const l = queueLayout(256);
    expect(l).toMatchObject({ descOff: 0, availOff: 4096, usedOff: 4672, stride: 6784 });
    expect(l.usedEventOff).toBe(4096 + 4 + 512);
    expect(l.availEventOff).toBe(4672 + 4 + 8 * 256);
  });

  it('every constant in the header has the same value here', () => {
    const hdr = headerConstants();
    const facts = layoutFacts(256, 4);
    // kMaxQueues is an expression in C++ (2 * kMaxQueuePairs); the rest are literals.
    expect(hdr.size).toBeGreaterThanOrEqual(30);
    for (const [name, value] of hdr) {
      if (name === 'kQueueStatusOff') continue; // sizeof(RegionHeader), not a literal
      expect(facts[name], name).toBe(value);
    }
  });

  it('keeps parts 64-byte aligned and inside the stride for every queue size', () => {
    for (let q = 2; q <= 32768; q *= 2) {
      const l = queueLayout(q);
      expect(l.availOff % 64).toBe(0);
      expect(l.usedOff % 64).toBe(0);
      expect(l.stride % 64).toBe(0);
      expect(l.availOff).toBeGreaterThanOrEqual(16 * q);
      expect(l.usedOff).toBeGreaterThanOrEqual(l.usedEventOff + 2);
      expect(l.stride).toBeGreaterThanOrEqual(l.availEventOff + 2);
      expect(poolOffsetFor(2, q) % 4096).toBe(0);
    }
  });

  it('fits QueueStatus[kMaxQueues] in the header page', () => {
    expect(kQueueStatusOff + kMaxQueues * kQueueStatusBytes).toBeLessThanOrEqual(kHeaderBytes);
  });

  it('layoutFacts is a flat object of numbers', () => {
    const f = layoutFacts(1024, 8);
    for (const v of Object.values(f)) expect(typeof v).toBe('number');
    expect(f.pool_offset_for).toBe(poolOffsetFor(8, 1024));
    expect(f.stride).toBe(queueLayout(1024).stride);
  });

  it('names ring errors', () => {
    expect(ringErrorName(RingError.ChainLoop)).toBe('ChainLoop');
    expect(ringErrorName(99)).toBe('RingError(99)');
  });

  it('vring_need_event matches the spec formula, across the u16 wrap', () => {
    expect(vringNeedEvent(5, 6, 5)).toBe(true); // event 5 in [5, 6)
    expect(vringNeedEvent(5, 5, 4)).toBe(false); // event 5 not in [4, 5)
    expect(vringNeedEvent(4, 10, 0)).toBe(true);
    expect(vringNeedEvent(10, 10, 0)).toBe(false);
    expect(vringNeedEvent(0xffff, 2, 0xfffe)).toBe(true);
    expect(vringNeedEvent(0, 2, 0xfffe)).toBe(true);
    expect(vringNeedEvent(2, 2, 0xfffe)).toBe(false);
    expect(vringNeedEvent(0xfffd, 2, 0xfffe)).toBe(false);
  });
});
