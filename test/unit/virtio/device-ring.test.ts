/**
 * The device helper's ring validation: one malformed ring per RingError, with the detail word.
 * The native device (native/virtq.cc) must behave identically; these cases are meant to be
 * ported one-for-one to the native tests.
 */
import { describe, expect, it } from 'vitest';
import {
  createRegion,
  VIRTQ_DESC_F_INDIRECT as INDIRECT,
  kMaxChainSegments,
  VIRTQ_DESC_F_NEXT as NEXT,
  QueueState,
  RegionHeaderOff,
  RingError,
  ringErrorName,
  VIRTQ_DESC_F_WRITE as WRITE,
} from '../../../lib/virtio';
import { DeviceChain, DeviceRing, kMaxFrameBytes, RawRing } from '../../helpers/device-ring';

function queue(isTx: boolean, queueSize = 16, bufferSize = 256, buffersPerQueue?: number) {
  const region = createRegion({ queuePairs: 1, queueSize, bufferSize, buffersPerQueue });
  const q = isTx ? 1 : 0;
  const dev = new DeviceRing(region.sab, q, isTx);
  const raw = new RawRing(region.sab, q);
  const lo = region.poolOffset;
  const hi = region.poolOffset + region.poolSize;
  const gen = () => region.dv.getUint32(RegionHeaderOff.configGeneration, true);
  /** Makes `heads` available at avail indices 0.. */
  const offer = (...heads: number[]) => {
    for (const [i, h] of heads.entries()) raw.avail(i, h);
    raw.setAvailIdx(heads.length);
  };
  const dir = isTx ? 0 : WRITE;
  return { region, dev, raw, lo, hi, gen, offer, dir, chain: new DeviceChain() };
}

/** Pops once and returns [RingError, detail] (0, 0 for a good chain). */
function popError(dev: DeviceRing, chain = new DeviceChain()): [number, number] {
  const r = dev.pop(chain);
  if (r === 'chain') return [RingError.Ok, 0];
  expect(r).toBe('broken');
  expect(dev.state()).toBe(QueueState.NeedsReset);
  return [dev.error(), dev.detail()];
}

describe('DeviceRing validation (native/virtq.cc DeviceQueue::pop)', () => {
  it('AvailIdxTooFar: avail.idx more than queue_size ahead [detail: avail.idx]', () => {
    const { dev, raw } = queue(true);
    raw.setAvailIdx(17);
    expect(dev.pending()).toBe(-1);
    expect([dev.error(), dev.detail()]).toEqual([RingError.AvailIdxTooFar, 17]);
    const b = queue(true);
    b.raw.setAvailIdx(0xffff); // "behind" the device is also too far ahead, modulo 2^16
    expect(popError(b.dev)).toEqual([RingError.AvailIdxTooFar, 0xffff]);
    const ok = queue(true);
    ok.raw.setAvailIdx(16); // exactly a queue ahead is fine
    expect(ok.dev.pending()).toBe(16);
  });

  it('HeadOutOfRange: avail.ring[] names descriptor >= queue_size [detail: the head]', () => {
    const { dev, offer } = queue(true);
    offer(16);
    expect(popError(dev)).toEqual([RingError.HeadOutOfRange, 16]);
    const b = queue(false);
    b.offer(0xffff);
    expect(popError(b.dev)).toEqual([RingError.HeadOutOfRange, 0xffff]);
  });

  it('NextOutOfRange: desc.next >= queue_size [detail: the descriptor holding it]', () => {
    const { dev, raw, lo, offer } = queue(true);
    raw.desc(3, lo, 64, NEXT, 5);
    raw.desc(5, lo, 64, NEXT, 16);
    offer(3);
    expect(popError(dev)).toEqual([RingError.NextOutOfRange, 5]);
    // next is only checked with NEXT set
    const b = queue(true);
    b.raw.desc(0, b.lo, 64, 0, 999);
    b.offer(0);
    expect(popError(b.dev)).toEqual([RingError.Ok, 0]);
  });

  it('ChainLoop: more than queue_size descriptors in a walk [detail: head]', () => {
    const { dev, raw, lo, offer } = queue(false);
    raw.desc(2, lo, 64, WRITE | NEXT, 7);
    raw.desc(7, lo, 64, WRITE | NEXT, 2);
    offer(2);
    expect(popError(dev)).toEqual([RingError.ChainLoop, 2]);
    const self = queue(true, 2);
    self.raw.desc(1, self.lo, 64, NEXT, 1);
    self.offer(1);
    expect(popError(self.dev)).toEqual([RingError.ChainLoop, 1]);
  });

  it('a loop in a queue larger than kMaxChainSegments is still named ChainLoop', () => {
    const { dev, raw, lo, offer } = queue(true, 128);
    raw.desc(0, lo, 64, NEXT, 1);
    raw.desc(1, lo, 64, NEXT, 0);
    offer(0);
    expect(popError(dev)).toEqual([RingError.ChainLoop, 0]);
  });

  it('DescOutOfPool: [addr, addr+len) must lie in the pool [detail: descriptor]', () => {
    const cases: Array<[string, (lo: number, hi: number) => [number, number, number]]> = [
      ['below the pool', (lo) => [lo - 64, 64, 0]],
      ['in the header', () => [0, 64, 0]],
      ['straddling the start', (lo) => [lo - 1, 64, 0]],
      ['past the end', (_lo, hi) => [hi - 63, 64, 0]],
      ['starting at the end', (_lo, hi) => [hi, 1, 0]],
      ['addr high word set', (lo) => [lo, 64, 1]],
      ['addr + len wraps 2^32', () => [0xffffff00, 0x200, 0]],
      ['len 0xffffffff', (lo) => [lo, 0xffffffff, 0]],
    ];
    for (const [name, mk] of cases) {
      for (const isTx of [true, false]) {
        const { dev, raw, lo, hi, offer, dir } = queue(isTx);
        const [addr, len, addrHi] = mk(lo, hi);
        raw.desc(4, lo, 64, dir | NEXT, 9);
        raw.desc(9, addr, len, dir, 0, addrHi);
        offer(4);
        expect(popError(dev), name).toEqual([RingError.DescOutOfPool, 9]);
      }
    }
    const edge = queue(true);
    edge.raw.desc(0, edge.hi - 64, 64, 0, 0); // ends exactly at the pool end
    edge.raw.desc(1, edge.lo, edge.hi - edge.lo, 0, 0); // the whole pool
    edge.offer(0, 1);
    expect(popError(edge.dev)).toEqual([RingError.Ok, 0]);
    expect(popError(edge.dev)).toEqual([RingError.Ok, 0]);
  });

  it('WriteOnlyInTx: a device-writable descriptor on a transmitq [detail: descriptor]', () => {
    const { dev, raw, lo, offer } = queue(true);
    raw.desc(0, lo, 64, NEXT, 1);
    raw.desc(1, lo, 64, WRITE, 0);
    offer(0);
    expect(popError(dev)).toEqual([RingError.WriteOnlyInTx, 1]);
  });

  it('ReadOnlyInRx: a device-readable descriptor on a receiveq [detail: descriptor]', () => {
    const { dev, raw, lo, offer } = queue(false);
    raw.desc(6, lo, 64, 0, 0);
    offer(6);
    expect(popError(dev)).toEqual([RingError.ReadOnlyInRx, 6]);
  });

  it('IndirectUnsupported: VIRTQ_DESC_F_INDIRECT [detail: descriptor]', () => {
    for (const isTx of [true, false]) {
      const { dev, raw, lo, offer, dir } = queue(isTx);
      raw.desc(0, lo, 16, dir | INDIRECT, 0);
      offer(0);
      expect(popError(dev)).toEqual([RingError.IndirectUnsupported, 0]);
    }
  });

  it('ZeroLength: a descriptor of length 0 [detail: descriptor]', () => {
    const { dev, raw, lo, offer } = queue(false);
    raw.desc(0, lo, 64, WRITE | NEXT, 1);
    raw.desc(1, lo, 0, WRITE, 0);
    offer(0);
    expect(popError(dev)).toEqual([RingError.ZeroLength, 1]);
  });

  it('ChainTooLong: more than kMaxChainSegments segments [detail: head]', () => {
    const { dev, raw, lo, offer } = queue(true, 128);
    for (let d = 0; d <= kMaxChainSegments; d++) raw.desc(d, lo, 64, NEXT, d + 1);
    raw.desc(kMaxChainSegments, lo, 64, 0, 0); // 65 descriptors: 0..64
    raw.desc(100, lo, 64, NEXT, 2); // head 100 -> 2..64: exactly 64
    offer(100, 0);
    expect(popError(dev)).toEqual([RingError.Ok, 0]);
    expect(popError(dev)).toEqual([RingError.ChainTooLong, 0]);
  });

  it('ChainTooLong: a chain over 16 MiB [detail: head]', () => {
    const mib = 1 << 20;
    const { dev, raw, lo, offer } = queue(true, 8, mib, 9); // 18 MiB pool
    raw.desc(2, lo, 9 * mib, NEXT, 3);
    raw.desc(3, lo + 9 * mib, kMaxFrameBytes - 9 * mib + 1, 0, 0);
    offer(2);
    expect(popError(dev)).toEqual([RingError.ChainTooLong, 2]);
    const ok = queue(true, 8, mib, 9);
    ok.raw.desc(2, ok.lo, 9 * mib, NEXT, 3);
    ok.raw.desc(3, ok.lo + 9 * mib, kMaxFrameBytes - 9 * mib, 0, 0);
    ok.offer(2);
    expect(popError(ok.dev)).toEqual([RingError.Ok, 0]);
  });

  it('checks in native order: indirect, direction, zero length, range, segment count, next', () => {
    const order = (flags: number, addr: (lo: number) => number, len: number, isTx = true) => {
      const { dev, raw, lo, offer } = queue(isTx);
      raw.desc(0, addr(lo), len, flags, 99);
      offer(0);
      return ringErrorName(popError(dev)[0]);
    };
    expect(order(INDIRECT | WRITE, () => 0, 0)).toBe('IndirectUnsupported');
    expect(order(WRITE | NEXT, () => 0, 0)).toBe('WriteOnlyInTx');
    expect(order(NEXT, () => 0, 0, false)).toBe('ReadOnlyInRx');
    expect(order(NEXT, () => 0, 0)).toBe('ZeroLength');
    expect(order(NEXT, () => 0, 64)).toBe('DescOutOfPool');
    expect(order(NEXT, (lo) => lo, 64)).toBe('NextOutOfRange');
  });

  it('takes the good chains before a bad one, then stops', () => {
    const { dev, raw, lo, offer, chain } = queue(true);
    raw.desc(0, lo, 64, 0, 0);
    raw.desc(1, lo, 0, 0, 0);
    offer(0, 1, 0);
    expect(dev.pop(chain)).toBe('chain');
    expect(dev.lastAvailIdx).toBe(1);
    expect(popError(dev, chain)).toEqual([RingError.ZeroLength, 1]);
    expect(dev.lastAvailIdx).toBe(1); // the bad chain is not consumed
    expect(dev.pop(chain)).toBe('empty'); // not READY: nothing pending (as native)
    expect(dev.pending()).toBe(0);
  });

  it('fail() keeps the first error and bumps config_generation once; reset() clears it', () => {
    const { dev, gen, offer } = queue(true);
    const g0 = gen();
    offer(16);
    expect(dev.pop(new DeviceChain())).toBe('broken');
    expect(gen()).toBe(g0 + 1);
    dev.fail(RingError.ZeroLength, 3);
    expect([dev.error(), dev.detail(), gen()]).toEqual([RingError.HeadOutOfRange, 16, g0 + 1]);
    dev.reset(true);
    expect([dev.state(), dev.error(), dev.detail(), gen()]).toEqual([QueueState.Ready, 0, 0, g0 + 2]);
  });

  it('a disabled queue is not serviced', () => {
    const region = createRegion({ queuePairs: 1, queueSize: 8, bufferSize: 64 });
    const dev = new DeviceRing(region.sab, 1, true, false);
    const raw = new RawRing(region.sab, 1);
    raw.desc(0, region.poolOffset, 64, 0, 0);
    raw.avail(0, 0);
    raw.setAvailIdx(1);
    expect(dev.pending()).toBe(0);
    expect(dev.pop(new DeviceChain())).toBe('empty');
    expect(dev.enableKick()).toBe(false);
    expect(dev.state()).toBe(QueueState.Disabled);
  });

  it('refuses a region with an invalid header', () => {
    const region = createRegion({ queuePairs: 1, queueSize: 8, bufferSize: 64 });
    region.dv.setUint32(RegionHeaderOff.magic, 0, true);
    expect(() => new DeviceRing(region.sab, 0, false)).toThrow(/magic/);
  });
});
