// native/virtq.h is the source of truth for the ring ABI; lib/virtio/layout.ts mirrors it.
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/native';
import * as L from '../../lib/virtio/layout';

describe('ring layout: lib/virtio/layout.ts mirrors native/virtq.h', () => {
  const sizes = [2, 4, 64, 256, 1024, 4096, 32768];
  it.each(sizes)('queue size %i', (q) => {
    for (const nq of [2, 8, 32, 128]) {
      const n = native().layout(q, nq);
      const t = L.layoutFacts(q, nq);
      const ql = L.queueLayout(q);
      expect({ desc: ql.descOff, avail: ql.availOff, used: ql.usedOff, stride: ql.stride }).toEqual({
        desc: n.descOff,
        avail: n.availOff,
        used: n.usedOff,
        stride: n.stride,
      });
      expect(L.poolOffsetFor(nq, q)).toBe(n.poolOffset);
      expect(t).toMatchObject({ availOff: n.availOff, usedOff: n.usedOff, stride: n.stride });
    }
  });

  it('constants and header offsets', () => {
    const n = native().layout(256, 8);
    expect(L.kAbiVersion).toBe(n.abiVersion);
    expect(native().abiVersion).toBe(L.kAbiVersion);
    expect(L.kRegionMagic).toBe(n.magic);
    expect(L.kHeaderBytes).toBe(n.headerBytes);
    expect(L.kMaxQueuePairs).toBe(n.maxQueuePairs);
    expect(L.kMinQueueSize).toBe(n.minQueueSize);
    expect(L.kMaxQueueSize).toBe(n.maxQueueSize);
    expect(L.kVnetHdrLen).toBe(n.vnetHdrLen);
    expect(L.kQueueStatusOff).toBe(n.queueStatusOff);
    expect(L.RegionHeaderOff.irqPending).toBe(n.irqPendingOff);
    expect(L.RegionHeaderOff.configGeneration).toBe(n.configGenerationOff);
    expect(L.RegionHeaderOff.deviceStatus).toBe(n.deviceStatusOff);
    expect(L.RegionHeaderOff.deviceErrno).toBe(n.deviceErrnoOff);
    expect(L.RegionHeaderOff.deviceFault).toBe(n.deviceFaultOff);
    expect(L.VIRTIO_RING_F_EVENT_IDX).toBe(n.eventIdxBit);
    expect(L.kMaxChainSegments).toBe(n.maxChainSegments);
  });
});
