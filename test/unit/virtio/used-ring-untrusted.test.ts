/**
 * The driver side treats the used ring as untrusted input, as the device treats the avail ring:
 * each impossible used-ring state, written straight into the shared ring, stops the queue with its
 * own coded error naming the queue, the used index and the value; the entries before it are
 * harvested as usual; a stopped queue harvests nothing and never reports more work, so a harvest
 * loop (FramePort.poll's shape) ends; reclaimAfterReset brings the queue back.
 */
import { describe, expect, it } from 'vitest';
import { CondisError, ErrorCodes, ringErrorCode } from '../../../lib/errors';
import { BufferPool, createRegion, DriverQueue, TxStatus, UsedRingError } from '../../../lib/virtio';
import { RingError } from '../../../lib/virtio/layout';
import { DeviceChain, DeviceRing, RawRing } from '../../helpers/device-ring';

const Q = 8;
const BUF = 100;

/** Queue 0 (receiveq) or 1 (transmitq) of a fresh region: heads 0..3 posted and published, tokens 10..13. */
function posted(isTx: boolean) {
  const region = createRegion({ queuePairs: 1, queueSize: Q, bufferSize: 256 });
  const q = isTx ? 1 : 0;
  const pool = new BufferPool(region, q * region.buffersPerQueue, region.buffersPerQueue);
  const drv = new DriverQueue(region, q);
  const raw = new RawRing(region.sab, q);
  const errors: CondisError[] = [];
  drv.onBroken = (e) => errors.push(e);
  const a = pool.offsetOf(pool.alloc());
  for (let i = 0; i < 4; i++) expect(drv.addBuffer(a, BUF, !isTx, 10 + i)).toBe(i);
  drv.publish();
  return { region, q, a, drv, raw, errors, toks: new Uint32Array(Q), lens: new Uint32Array(Q) };
}

type Rig = ReturnType<typeof posted>;
type Path = 'harvest' | 'harvestAndRepost';

function take(r: Rig, path: Path): number {
  return path === 'harvest' ? r.drv.harvest(r.toks, r.lens, Q) : r.drv.harvestAndRepost(r.toks, r.lens, Q);
}

/**
 * FramePort.poll's loop over one queue: harvest until empty, then enableInterrupts; again if it
 * reports more. Returns the rounds it took; throws instead of spinning.
 */
function pollLoop(r: Rig, path: Path): number {
  for (let round = 1; round <= 1000; round++) {
    if (take(r, path) === 0 && !r.drv.enableInterrupts()) return round;
  }
  throw new Error('the harvest loop did not end: the queue keeps reporting work it never yields');
}

interface Case {
  name: string;
  code: string;
  isTx: boolean;
  /** Writes the hostile state (and may harvest legit entries first). */
  hostile: (r: Rig, path: Path) => void;
  /** Entries the stopping harvest call returns before the bad one. */
  before: number;
  usedIdx: number;
  detail: number;
  /** Paths the case applies to (default both). */
  paths?: Path[];
}

const cases: Case[] = [
  {
    name: 'used.idx one past what was published',
    code: UsedRingError.IdxTooFar,
    isTx: true,
    hostile: (r) => r.raw.setUsedIdx(5),
    before: 0,
    usedIdx: 0,
    detail: 5,
  },
  {
    name: 'used.idx behind the last one harvested (65535 ahead, modulo 2^16)',
    code: UsedRingError.IdxTooFar,
    isTx: false,
    hostile: (r) => r.raw.setUsedIdx(0xffff),
    before: 0,
    usedIdx: 0,
    detail: 0xffff,
  },
  {
    name: 'used id one past the table',
    code: UsedRingError.IdUnknown,
    isTx: true,
    hostile: (r) => {
      r.raw.used(0, Q, 0);
      r.raw.setUsedIdx(1);
    },
    before: 0,
    usedIdx: 0,
    detail: Q,
  },
  {
    name: 'used id 0xffffffff',
    code: UsedRingError.IdUnknown,
    isTx: false,
    hostile: (r) => {
      r.raw.used(0, 0xffffffff, 10);
      r.raw.setUsedIdx(1);
    },
    before: 0,
    usedIdx: 0,
    detail: 0xffffffff,
  },
  {
    name: 'used id of a descriptor never posted (after a good entry)',
    code: UsedRingError.IdUnknown,
    isTx: true,
    hostile: (r) => {
      r.raw.used(0, 2, TxStatus.Sent);
      r.raw.used(1, 6, TxStatus.Sent);
      r.raw.setUsedIdx(2);
    },
    before: 1,
    usedIdx: 1,
    detail: 6,
  },
  {
    name: 'used id inside a chain (not its head)',
    code: UsedRingError.IdUnknown,
    isTx: false,
    hostile: (r) => {
      const addrs = [r.a, r.a + 8, r.a + 16];
      expect(r.drv.addChain(addrs, [8, 8, 8], 3, 0, 99)).toBe(4); // descriptors 4 -> 5 -> 6
      r.drv.publish();
      r.raw.used(0, 5, 8);
      r.raw.setUsedIdx(1);
    },
    before: 0,
    usedIdx: 0,
    detail: 5,
  },
  {
    name: 'used id of a head added but not yet published',
    code: UsedRingError.IdUnknown,
    isTx: true,
    hostile: (r) => {
      expect(r.drv.addBuffer(r.a, BUF, false, 14)).toBe(4);
      r.raw.used(0, 4, TxStatus.Sent);
      r.raw.setUsedIdx(1);
    },
    before: 0,
    usedIdx: 0,
    detail: 4,
  },
  {
    name: 'the same id twice in one batch',
    code: UsedRingError.IdRepeated,
    isTx: false,
    hostile: (r) => {
      r.raw.used(0, 1, 50);
      r.raw.used(1, 1, 50);
      r.raw.setUsedIdx(2);
    },
    before: 1,
    usedIdx: 1,
    detail: 1,
  },
  {
    name: 'an id returned again in a later batch',
    code: UsedRingError.IdRepeated,
    isTx: true,
    hostile: (r, path) => {
      r.raw.used(0, 3, TxStatus.Sent);
      r.raw.setUsedIdx(1);
      expect(take(r, path)).toBe(1);
      // harvestAndRepost offered it again, but nothing was published since.
      r.raw.used(1, 3, TxStatus.Sent);
      r.raw.setUsedIdx(2);
    },
    before: 0,
    usedIdx: 1,
    detail: 3,
  },
  {
    name: 'an id returned again after the driver re-added it, before publishing it',
    code: UsedRingError.IdRepeated,
    isTx: true,
    paths: ['harvest'],
    hostile: (r) => {
      r.raw.used(0, 3, TxStatus.Sent);
      r.raw.setUsedIdx(1);
      expect(r.drv.harvest(r.toks, r.lens, Q)).toBe(1);
      expect(r.drv.addBuffer(r.a, BUF, false, 20)).toBe(3); // the freed head comes first
      r.raw.used(1, 3, TxStatus.Sent);
      r.raw.setUsedIdx(2);
    },
    before: 0,
    usedIdx: 1,
    detail: 3,
  },
  {
    name: 'a receive len one past the buffer',
    code: UsedRingError.LenTooLong,
    isTx: false,
    hostile: (r) => {
      r.raw.used(0, 0, BUF);
      r.raw.used(1, 1, BUF + 1);
      r.raw.setUsedIdx(2);
    },
    before: 1,
    usedIdx: 1,
    detail: BUF + 1,
  },
  {
    name: 'a receive len of 0xffffffff',
    code: UsedRingError.LenTooLong,
    isTx: false,
    hostile: (r) => {
      r.raw.used(0, 2, 0xffffffff);
      r.raw.setUsedIdx(1);
    },
    before: 0,
    usedIdx: 0,
    detail: 0xffffffff,
  },
];

const runs = cases.flatMap((c) =>
  (c.paths ?? (['harvest', 'harvestAndRepost'] as Path[])).map((path) => ({ ...c, path })),
);

describe('DriverQueue: each impossible used ring stops the queue with its code', () => {
  it.each(runs)('$name ($path) -> $code', (c) => {
    const r = posted(c.isTx);
    c.hostile(r, c.path);
    expect(take(r, c.path)).toBe(c.before);
    const err = r.drv.broken;
    expect(err).not.toBeNull();
    expect(err!.code).toBe(c.code);
    expect(Object.keys(ErrorCodes)).toContain(c.code);
    expect(err!.details).toEqual({ queue: r.q, usedIdx: c.usedIdx, detail: c.detail });
    // The message names the queue, the used index and the value.
    expect(err!.message).toContain(`queue ${r.q}`);
    expect(err!.message).toContain(`used idx ${c.usedIdx}`);
    expect(err!.message).toContain(String(c.detail));
    expect(r.errors).toEqual([err]);
    // Stopped: nothing more is harvested and no more work is reported, whatever used.idx says.
    r.raw.setUsedIdx((c.usedIdx + 3) & 0xffff);
    expect(take(r, 'harvest')).toBe(0);
    expect(take(r, 'harvestAndRepost')).toBe(0);
    expect(r.drv.enableInterrupts()).toBe(false);
    expect(pollLoop(r, c.path)).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.drv.lastUsedIdx).toBe(c.usedIdx);
    // The reset gives back every chain still in flight, each once, and the queue is whole again.
    const inFlight = r.drv.inFlight();
    const out = new Uint32Array(Q);
    const back = r.drv.reclaimAfterReset(out);
    expect(back).toBe(inFlight);
    expect(new Set(out.subarray(0, back)).size).toBe(back);
    expect(r.drv.broken).toBeNull();
    expect(r.drv.freeDescriptors()).toBe(Q);
  });

  it('a stopped queue in a poll loop: the loop ends at once (it would spin forever before)', () => {
    for (const path of ['harvest', 'harvestAndRepost'] as const) {
      const r = posted(false);
      r.raw.used(0, 7, 10);
      r.raw.setUsedIdx(1);
      expect(pollLoop(r, path)).toBe(1);
      expect(r.drv.broken?.code).toBe(UsedRingError.IdUnknown);
    }
  });

  it('the first error stays: onBroken is called once, broken keeps the first', () => {
    const r = posted(false);
    r.raw.used(0, 9, 0);
    r.raw.setUsedIdx(1);
    expect(r.drv.harvest(r.toks, r.lens, Q)).toBe(0);
    const first = r.drv.broken;
    r.raw.setUsedIdx(200);
    expect(r.drv.harvest(r.toks, r.lens, Q)).toBe(0);
    expect(r.drv.broken).toBe(first);
    expect(r.errors).toEqual([first]);
  });

  it('usedBefore never counts more than the device was shown', () => {
    const r = posted(false);
    expect(r.drv.usedBefore(2)).toBe(2);
    expect(r.drv.usedBefore(4)).toBe(4);
    expect(r.drv.usedBefore(5)).toBe(4);
    expect(r.drv.usedBefore(0xffff)).toBe(4);
  });
});

describe('DriverQueue: what an honest device may do is never an error', () => {
  it('a head given back, offered again and published, may come back again (both paths)', () => {
    for (const path of ['harvest', 'harvestAndRepost'] as const) {
      const r = posted(true);
      for (let round = 0; round < 3; round++) {
        const u = round;
        r.raw.used(u, 2, TxStatus.Sent);
        r.raw.setUsedIdx(u + 1);
        expect(take(r, path)).toBe(1);
        if (path === 'harvest') expect(r.drv.addBuffer(r.a, BUF, false, 12)).toBe(2);
        r.drv.publish();
      }
      expect(r.drv.broken).toBeNull();
    }
  });

  it('a transmit len is a TxStatus, any value: never bounded by the chain', () => {
    const r = posted(true);
    r.raw.used(0, 0, 0xffffffff);
    r.raw.used(1, 1, TxStatus.BackendError);
    r.raw.setUsedIdx(2);
    expect(r.drv.harvest(r.toks, r.lens, Q)).toBe(2);
    expect([...r.lens.subarray(0, 2)]).toEqual([0xffffffff, TxStatus.BackendError]);
    expect(r.drv.broken).toBeNull();
  });

  it('a receive len of exactly the writable bytes of a chain with a readable part', () => {
    const r = posted(false);
    const h = r.drv.addChain([r.a, r.a + 32, r.a + 64], [12, 20, 30], 3, 0, 50);
    r.drv.publish();
    r.raw.used(0, h, 62);
    r.raw.setUsedIdx(1);
    expect(r.drv.harvest(r.toks, r.lens, Q)).toBe(1);
    expect(r.drv.broken).toBeNull();
  });

  it('a device that holds one buffer across 70,000 others: no false repeat when the indices wrap', () => {
    // Out-of-order completion (allowed by 2.7.14): head 0 stays with the device while the other
    // heads go round far past 65536 avail entries; returning it at last is legitimate.
    const region = createRegion({ queuePairs: 1, queueSize: Q, bufferSize: 256 });
    const drv = new DriverQueue(region, 0);
    const dev = new DeviceRing(region.sab, 0, false);
    const pool = new BufferPool(region, 0, region.buffersPerQueue);
    for (let i = 0; i < Q; i++) drv.addBuffer(pool.offsetOf(pool.alloc()), 64, true, i);
    drv.publish();
    const chain = new DeviceChain();
    expect(dev.pop(chain)).toBe('chain');
    const heldHead = chain.head;
    const toks = new Uint32Array(Q);
    const lens = new Uint32Array(Q);
    for (let n = 0; n < 70_000; n++) {
      if (dev.pop(chain) !== 'chain') throw new Error(`round ${n}: nothing available`);
      dev.pushUsed(chain.head, 1);
      dev.publishUsed();
      if (drv.harvestAndRepost(toks, lens, Q) !== 1) throw new Error(`round ${n}: ${drv.broken?.message}`);
      drv.publish();
    }
    dev.pushUsed(heldHead, 2);
    dev.publishUsed();
    expect(drv.harvestAndRepost(toks, lens, Q)).toBe(1);
    expect(toks[0]).toBe(0);
    expect(drv.broken).toBeNull();
  });

  it('faultStands: a reported fault stands until the queue is reset, once per fault', () => {
    // The repair of a queue ('ringError' listeners) asks this before resetting: the driver's own
    // stop is reported a microtask late and may find the queue reset already.
    const r = posted(true);
    const dev = new DeviceRing(r.region.sab, r.q, true);
    r.raw.setUsedIdx(Q + 1);
    expect(take(r, 'harvest')).toBe(0);
    const stop = r.errors[0]!;
    expect(r.drv.faultStands(stop)).toBe(true);
    // The device's own report of the same queue (NEEDS_RESET) stands too, until the reset.
    dev.fail(RingError.HeadOutOfRange, Q + 3);
    const devErr = new CondisError(ringErrorCode(RingError.HeadOutOfRange), 'needs reset', { queue: r.q });
    expect(r.drv.faultStands(devErr)).toBe(true);
    dev.reset(true);
    r.drv.reclaimAfterReset(new Uint32Array(Q));
    expect(r.drv.faultStands(stop)).toBe(false);
    expect(r.drv.faultStands(devErr)).toBe(false);
    // A later stop of the same kind is another fault: the old report still does not stand.
    r.drv.addBuffer(r.a, BUF, false, 20);
    r.drv.publish();
    r.raw.setUsedIdx(Q + 1);
    expect(take(r, 'harvest')).toBe(0);
    expect(r.errors[1]!.code).toBe(stop.code);
    expect(r.drv.faultStands(r.errors[1]!)).toBe(true);
    expect(r.drv.faultStands(stop)).toBe(false);
  });
});
