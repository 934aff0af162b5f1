import { describe, expect, it } from 'vitest';
import {
  BufferPool,
  createRegion,
  DriverQueue,
  QueueState,
  type Region,
  RingError,
  TxStatus,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from '../../../lib/virtio';
import { DeviceChain, DeviceRing, RawRing } from '../../helpers/device-ring';

interface Rig {
  region: Region;
  pool: BufferPool;
  drv: DriverQueue;
  dev: DeviceRing;
  raw: RawRing;
  chain: DeviceChain;
  toks: Uint32Array;
  lens: Uint32Array;
}

/** Queue 0 (receiveq) or 1 (transmitq) of a fresh one-pair region, with its device. */
function rig(isTx: boolean, queueSize = 16, bufferSize = 256): Rig {
  const region = createRegion({ queuePairs: 1, queueSize, bufferSize });
  const q = isTx ? 1 : 0;
  return {
    region,
    pool: new BufferPool(region, q * region.buffersPerQueue, region.buffersPerQueue),
    drv: new DriverQueue(region, q),
    dev: new DeviceRing(region.sab, q, isTx),
    raw: new RawRing(region.sab, q),
    chain: new DeviceChain(),
    toks: new Uint32Array(queueSize),
    lens: new Uint32Array(queueSize),
  };
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('DriverQueue: descriptors round-trip', () => {
  it('transmit: the device reads exactly what the driver posted', () => {
    const { pool, drv, dev, raw, chain, toks, lens } = rig(true);
    const slot = pool.alloc();
    const frame = bytes(60, 7);
    pool.write(slot, frame);
    const head = drv.addBuffer(pool.offsetOf(slot), 60, false, slot);
    expect(head).toBe(0);
    expect(raw.descAddr(head)).toBe(pool.offsetOf(slot));
    expect(raw.descLen(head)).toBe(60);
    expect(raw.descFlags(head)).toBe(0);
    expect(dev.pending()).toBe(0); // not published yet
    expect(drv.publish()).toBe(true);
    expect(dev.pop(chain)).toBe('chain');
    expect(chain).toMatchObject({ head, nseg: 1, total: 60 });
    expect(dev.readChain(chain)).toEqual(frame);
    dev.pushUsed(chain.head, TxStatus.Unbound);
    expect(drv.harvest(toks, lens, 16)).toBe(0); // not published yet
    expect(dev.publishUsed()).toBe(true);
    expect(drv.harvest(toks, lens, 16)).toBe(1);
    expect(toks[0]).toBe(slot);
    expect(lens[0]).toBe(TxStatus.Unbound); // a tx used.len carries a TxStatus
    expect(drv.freeDescriptors()).toBe(16);
    expect(drv.inFlight()).toBe(0);
    expect(drv.broken).toBeNull();
  });

  it('receive: the driver reads exactly what the device wrote', () => {
    const { region, pool, drv, dev, raw, chain, toks, lens } = rig(false);
    const slots = [pool.alloc(), pool.alloc()];
    for (const s of slots) drv.addBuffer(pool.offsetOf(s), 256, true, s);
    expect(raw.descFlags(0)).toBe(VIRTQ_DESC_F_WRITE);
    drv.publish();
    const frames = [bytes(100, 1), bytes(256, 2)];
    for (const f of frames) {
      expect(dev.pop(chain)).toBe('chain');
      expect(dev.writeChain(chain, f)).toBe(f.length);
      dev.pushUsed(chain.head, f.length);
    }
    dev.publishUsed();
    expect(drv.harvest(toks, lens, 16)).toBe(2);
    for (let i = 0; i < 2; i++) {
      expect(toks[i]).toBe(slots[i]);
      expect(lens[i]).toBe(frames[i]!.length);
      const off = pool.offsetOf(toks[i]!);
      expect(region.u8.subarray(off, off + lens[i]!)).toEqual(frames[i]);
    }
  });
});

describe('DriverQueue: multi-segment chains', () => {
  it('links segments in order with NEXT and WRITE after the readable ones', () => {
    const { pool, drv, raw } = rig(false);
    const addrs = new Float64Array(4);
    const lens = new Uint32Array([10, 20, 30, 40]);
    for (let k = 0; k < 4; k++) addrs[k] = pool.offsetOf(pool.alloc());
    const head = drv.addChain(addrs, lens, 4, 2, 77);
    let d = head;
    for (let k = 0; k < 4; k++) {
      expect(raw.descAddr(d)).toBe(addrs[k]);
      expect(raw.descLen(d)).toBe(lens[k]);
      const f = raw.descFlags(d);
      expect(f & VIRTQ_DESC_F_WRITE).toBe(k >= 2 ? VIRTQ_DESC_F_WRITE : 0);
      expect(f & VIRTQ_DESC_F_NEXT).toBe(k < 3 ? VIRTQ_DESC_F_NEXT : 0);
      d = raw.descNext(d);
    }
    expect(drv.freeDescriptors()).toBe(12);
    expect(drv.inFlight()).toBe(1);
  });

  it('gathers a transmit chain and scatters a receive chain', () => {
    const tx = rig(true);
    const addrs = [0, 0, 0].map(() => tx.pool.offsetOf(tx.pool.alloc()));
    const segLens = [14, 100, 3];
    const frame = bytes(117, 9);
    tx.region.u8.set(frame.subarray(0, 14), addrs[0]);
    tx.region.u8.set(frame.subarray(14, 114), addrs[1]);
    tx.region.u8.set(frame.subarray(114), addrs[2]);
    expect(tx.drv.addChain(addrs, segLens, 3, 3, 5)).toBeGreaterThanOrEqual(0);
    tx.drv.publish();
    expect(tx.dev.pop(tx.chain)).toBe('chain');
    expect(tx.chain.nseg).toBe(3);
    expect(tx.dev.readChain(tx.chain)).toEqual(frame);

    const rx = rig(false);
    const raddrs = [0, 0].map(() => rx.pool.offsetOf(rx.pool.alloc()));
    rx.drv.addChain(raddrs, [50, 256], 2, 0, 6);
    rx.drv.publish();
    expect(rx.dev.pop(rx.chain)).toBe('chain');
    expect(rx.chain.total).toBe(306);
    const data = bytes(200, 3);
    rx.dev.writeChain(rx.chain, data);
    rx.dev.pushUsed(rx.chain.head, 200);
    rx.dev.publishUsed();
    expect(rx.drv.harvest(rx.toks, rx.lens, 4)).toBe(1);
    expect([rx.toks[0], rx.lens[0]]).toEqual([6, 200]);
    expect(rx.region.u8.subarray(raddrs[0]!, raddrs[0]! + 50)).toEqual(data.subarray(0, 50));
    expect(rx.region.u8.subarray(raddrs[1]!, raddrs[1]! + 150)).toEqual(data.subarray(50));
    expect(rx.drv.freeDescriptors()).toBe(16);
  });

  it('returns -1 without consuming anything when descriptors run short', () => {
    const { pool, drv } = rig(true, 8);
    const a = pool.offsetOf(pool.alloc());
    const addrs = new Array<number>(8).fill(a);
    const lens = new Array<number>(8).fill(64);
    expect(drv.addChain(addrs, lens, 5, 5, 1)).toBeGreaterThanOrEqual(0);
    expect(drv.addChain(addrs, lens, 4, 4, 2)).toBe(-1);
    expect(drv.freeDescriptors()).toBe(3);
    expect(drv.addChain(addrs, lens, 3, 3, 3)).toBeGreaterThanOrEqual(0);
    expect(drv.addBuffer(a, 64, false, 4)).toBe(-1);
    expect(drv.inFlight()).toBe(2);
  });

  it('rejects bad chains and buffers with ERR_CONDIS_INVALID_ARG', () => {
    const { region, pool, drv } = rig(true, 128);
    const a = pool.offsetOf(pool.alloc());
    const code = expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' });
    expect(() => drv.addChain([a], [64], 0, 0, 1)).toThrow(code);
    expect(() => drv.addChain(new Array(65).fill(a), new Array(65).fill(64), 65, 0, 1)).toThrow(code);
    expect(() => drv.addChain([a], [64], 1, 2, 1)).toThrow(code);
    expect(() => drv.addChain([a], [64], 2, 0, 1)).toThrow(code);
    expect(() => drv.addBuffer(a, 0, false, 1)).toThrow(code);
    expect(() => drv.addBuffer(region.poolOffset - 64, 64, false, 1)).toThrow(code);
    expect(() => drv.addBuffer(region.poolOffset + region.poolSize - 10, 64, false, 1)).toThrow(code);
    expect(() => drv.addChain([a, 0], [64, 64], 2, 2, 1)).toThrow(code);
    expect(drv.freeDescriptors()).toBe(128);
    expect(drv.inFlight()).toBe(0);
    expect(() => new DriverQueue(region, 2)).toThrow(code);
  });
});

describe('DriverQueue: harvestAndRepost (receive buffers given straight back)', () => {
  it('re-offers each chain unchanged: same head, descriptor and token, no descriptor write', () => {
    const { region, pool, drv, dev, raw, chain, toks, lens } = rig(false, 8);
    const slots = Array.from({ length: 8 }, () => pool.alloc());
    for (const s of slots) drv.addBuffer(pool.offsetOf(s), 256, true, s);
    drv.publish();
    const heads = new Map<number, number>(); // token -> head, from the first round
    // 300 rounds of 1..8 frames: every index wraps; the same 8 chains carry every frame.
    let seq = 0;
    let x = 7;
    for (let round = 0; round < 300; round++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const m = 1 + ((x >>> 8) % 8);
      for (let i = 0; i < m; i++) {
        expect(dev.pop(chain)).toBe('chain');
        expect(dev.writeChain(chain, bytes(60 + (seq % 100), seq))).toBe(60 + (seq % 100));
        dev.pushUsed(chain.head, 60 + (seq % 100));
        seq++;
      }
      dev.publishUsed();
      const n = drv.harvestAndRepost(toks, lens, 8);
      expect(n).toBe(m);
      for (let i = 0; i < n; i++) {
        const s = seq - m + i;
        expect(lens[i]).toBe(60 + (s % 100));
        const off = pool.offsetOf(toks[i]!);
        expect(region.u8.subarray(off, off + lens[i]!)).toEqual(bytes(60 + (s % 100), s));
        const h = raw.availEntry(raw.availIdx() + i); // published below: not yet visible
        if (!heads.has(toks[i]!)) heads.set(toks[i]!, h);
        expect(h).toBe(heads.get(toks[i]!));
        expect(raw.descAddr(h)).toBe(pool.offsetOf(toks[i]!));
        expect(raw.descLen(h)).toBe(256);
        expect(raw.descFlags(h)).toBe(VIRTQ_DESC_F_WRITE);
      }
      expect(drv.inFlight()).toBe(8);
      expect(drv.freeDescriptors()).toBe(0);
      drv.publish();
    }
    expect(seq).toBeGreaterThan(1000);
  });

  it('checks what the device returned as harvest() does', () => {
    const { pool, drv, dev, chain, toks, lens } = rig(false, 4);
    for (let i = 0; i < 2; i++) drv.addBuffer(pool.offsetOf(pool.alloc()), 128, true, i);
    drv.publish();
    expect(dev.pop(chain)).toBe('chain');
    dev.pushUsed(chain.head, 129); // more than the buffer holds
    dev.publishUsed();
    expect(drv.harvestAndRepost(toks, lens, 4)).toBe(0);
    expect(drv.broken?.code).toBe('ERR_CONDIS_RING_USED_LEN_TOO_LONG');
    expect(drv.broken?.message).toMatch(/exceeds its 128 writable bytes/);
  });
});

describe('DriverQueue: batches', () => {
  it('keeps exact counts across many batches and partial harvests', () => {
    const { pool, drv, dev, chain, toks, lens } = rig(true, 32);
    let next = 0;
    let harvested = 0;
    let x = 1;
    const rnd = (n: number) => {
      x = (x * 1103515245 + 12345) >>> 0;
      return (x >>> 8) % n;
    };
    const a = pool.offsetOf(pool.alloc());
    for (let round = 0; round < 2000; round++) {
      const want = rnd(40);
      let added = 0;
      while (added < want && drv.addBuffer(a, 64, false, next) >= 0) {
        next++;
        added++;
      }
      expect(added).toBe(Math.min(want, 32 - (next - added - harvested)));
      drv.publish();
      const take = rnd(40);
      for (let i = 0; i < take && dev.pop(chain) === 'chain'; i++) dev.pushUsed(chain.head, 0);
      dev.publishUsed();
      const n = drv.harvest(toks, lens, rnd(40));
      for (let i = 0; i < n; i++) expect(toks[i]).toBe(harvested + i);
      harvested += n;
      expect(drv.inFlight()).toBe(next - harvested);
      expect(drv.freeDescriptors()).toBe(32 - drv.inFlight());
    }
    expect(next).toBeGreaterThan(10000);
  });

  it('harvest never writes past max or the output arrays', () => {
    const { pool, drv, dev, chain } = rig(true, 16);
    const a = pool.offsetOf(pool.alloc());
    for (let i = 0; i < 10; i++) drv.addBuffer(a, 64, false, i);
    drv.publish();
    while (dev.pop(chain) === 'chain') dev.pushUsed(chain.head, 0);
    dev.publishUsed();
    const t = new Uint32Array(4).fill(999);
    const l = new Uint32Array(3);
    expect(drv.harvest(t, l, 100)).toBe(3);
    expect([...t]).toEqual([0, 1, 2, 999]);
    expect(drv.harvest(t, l, 2)).toBe(2);
    expect(drv.usedPending()).toBe(5);
    expect(drv.harvest(t, l, 0)).toBe(0);
  });
});

describe('DriverQueue: notification suppression (VIRTIO_F_EVENT_IDX, 2.7.10)', () => {
  it('publish() asks for a kick only when the device asked for one', () => {
    const { pool, drv, dev, chain } = rig(true);
    const a = pool.offsetOf(pool.alloc());
    expect(drv.publish()).toBe(false); // nothing to publish
    expect(dev.enableKick()).toBe(false); // device sleeps: avail_event = 0
    drv.addBuffer(a, 64, false, 0);
    expect(drv.publish()).toBe(true); // 0 in [0, 1)
    drv.addBuffer(a, 64, false, 1);
    expect(drv.publish()).toBe(false); // device already awake: avail_event 0 not in [1, 2)
    expect(dev.pop(chain)).toBe('chain');
    expect(dev.pop(chain)).toBe('chain');
    expect(dev.enableKick()).toBe(false); // avail_event = 2
    drv.addBuffer(a, 64, false, 2);
    drv.addBuffer(a, 64, false, 3);
    expect(drv.publish()).toBe(true); // one kick for a batch of two
    expect(dev.pop(chain)).toBe('chain');
    // The driver publishes while the device is busy (no kick)...
    drv.addBuffer(a, 64, false, 4);
    expect(drv.publish()).toBe(false);
    expect(dev.pop(chain)).toBe('chain');
    // ...and the device, about to sleep, sees the new buffer instead of sleeping through it.
    expect(dev.enableKick()).toBe(true);
    expect(dev.pop(chain)).toBe('chain');
    expect(dev.enableKick()).toBe(false);
  });

  it('the device interrupts only when the driver asked (used_event), with an optional delay', () => {
    const { pool, drv, dev, chain, toks, lens } = rig(true);
    const a = pool.offsetOf(pool.alloc());
    for (let i = 0; i < 12; i++) drv.addBuffer(a, 64, false, i);
    drv.publish();
    const complete = () => {
      expect(dev.pop(chain)).toBe('chain');
      dev.pushUsed(chain.head, 0);
      return dev.publishUsed();
    };
    expect(drv.enableInterrupts()).toBe(false); // used_event = 0
    expect(complete()).toBe(true);
    expect(complete()).toBe(false); // driver has not re-armed
    expect(drv.harvest(toks, lens, 16)).toBe(2);
    expect(drv.enableInterrupts()).toBe(false); // used_event = 2
    expect(complete()).toBe(true);
    // Re-arming with unharvested entries reports them: the caller loops instead of sleeping.
    expect(drv.enableInterrupts()).toBe(true);
    expect(drv.harvest(toks, lens, 16)).toBe(1);
    // Delay: interrupt on the 3rd entry from now, not before.
    expect(drv.enableInterrupts(2)).toBe(false);
    expect(complete()).toBe(false);
    expect(complete()).toBe(false);
    expect(drv.enableInterrupts(2)).toBe(false);
    expect(complete()).toBe(true);
    expect(drv.enableInterrupts(2)).toBe(true);
    // A batch published at once interrupts once.
    expect(drv.harvest(toks, lens, 16)).toBe(3);
    expect(drv.enableInterrupts()).toBe(false);
    for (let i = 0; i < 3; i++) {
      expect(dev.pop(chain)).toBe('chain');
      dev.pushUsed(chain.head, 0);
    }
    expect(dev.publishUsed()).toBe(true);
  });
});

describe('DriverQueue: u16 wraparound', () => {
  it.each([2, 8, 64])(
    'moves >= 200k buffers through a %d-entry queue, in order, with no lost kick or interrupt',
    (q) => {
      const { pool, drv, dev, chain, toks, lens } = rig(false, q, 64);
      const a = pool.offsetOf(pool.alloc());
      const total = 200_003;
      let sent = 0;
      let got = 0;
      let devAwake = false;
      let drvAwake = false;
      dev.enableKick();
      drv.enableInterrupts();
      let x = q;
      const rnd = (n: number) => {
        x = (x * 1103515245 + 12345) >>> 0;
        return (x >>> 8) % n;
      };
      let steps = 0;
      while (got < total) {
        steps++;
        const op = rnd(3);
        if (op === 0) {
          // Driver posts a batch (token = sequence number, len checked on the way back).
          const n = rnd(q + 1);
          for (let i = 0; i < n && sent < total; i++) {
            if (drv.addBuffer(a, 1 + (sent % 64), true, sent) < 0) break;
            sent++;
          }
          if (drv.publish()) devAwake = true;
        } else if (op === 1 && devAwake) {
          const n = 1 + rnd(q);
          for (let i = 0; i < n && dev.pop(chain) === 'chain'; i++) dev.pushUsed(chain.head, chain.total);
          if (dev.publishUsed()) drvAwake = true;
          if (dev.pending() === 0 && !dev.enableKick()) devAwake = false;
        } else if (op === 2 && drvAwake) {
          const n = drv.harvest(toks, lens, 1 + rnd(q));
          for (let i = 0; i < n; i++) {
            if (toks[i] !== got || lens[i] !== 1 + (got % 64)) {
              throw new Error(`at ${got}: token ${toks[i]} len ${lens[i]}`);
            }
            got++;
          }
          if (drv.usedPending() === 0 && !drv.enableInterrupts()) drvAwake = false;
        }
        // No lost wakeups: a sleeping side has nothing waiting for it.
        if (!devAwake && dev.pending() !== 0) throw new Error(`device asleep with work at step ${steps}`);
        if (!drvAwake && drv.usedPending() !== 0) throw new Error(`driver asleep with work at step ${steps}`);
      }
      expect(got).toBe(total);
      expect(total).toBeGreaterThan(3 * 65536); // every u16 index wrapped three times
      expect(drv.availIdx).toBe(sent & 0xffff);
      expect(drv.lastUsedIdx).toBe(got & 0xffff);
      expect(dev.lastAvailIdx).toBe(sent & 0xffff);
      expect(dev.usedIdx).toBe(got & 0xffff);
      expect(drv.freeDescriptors()).toBe(q);
      expect(drv.broken).toBeNull();
      expect(dev.state()).toBe(QueueState.Ready);
    },
  );
});

describe('DriverQueue: reclaimAfterReset (2.6.1)', () => {
  function scenario() {
    const r = rig(true, 16);
    const a = r.pool.offsetOf(r.pool.alloc());
    const addrs = [a, a, a];
    const segs = [64, 64, 64];
    // 10 chains (some multi-segment): tokens 100..109.
    for (let t = 100; t < 110; t++) {
      if (t % 3 === 0) r.drv.addChain(addrs, segs, 2, 2, t);
      else r.drv.addBuffer(a, 64, false, t);
    }
    r.drv.publish();
    // The device takes 6, then the queue is reset and left disabled.
    for (let i = 0; i < 6; i++) expect(r.dev.pop(r.chain)).toBe('chain');
    r.dev.reset(false);
    return r;
  }

  it('returns exactly the in-flight tokens and rebuilds the queue', () => {
    const { pool, drv, dev, chain, toks, lens, raw } = rig(true, 16);
    const a = pool.offsetOf(pool.alloc());
    for (let t = 100; t < 110; t++) {
      if (t % 3 === 0) drv.addChain([a, a], [64, 64], 2, 2, t);
      else drv.addBuffer(a, 64, false, t);
    }
    drv.publish();
    const heads: number[] = [];
    for (let i = 0; i < 6; i++) {
      expect(dev.pop(chain)).toBe('chain');
      heads.push(chain.head);
    }
    for (const h of heads.slice(0, 4)) dev.pushUsed(h, 0);
    dev.publishUsed();
    expect(drv.harvest(toks, lens, 2)).toBe(2); // 100, 101 done
    drv.addBuffer(a, 64, false, 200);
    drv.addBuffer(a, 64, false, 201); // added, never published
    expect(drv.inFlight()).toBe(10);

    dev.reset(true); // like NativeDevice.resetQueue(q)
    const out = new Uint32Array(16);
    const n = drv.reclaimAfterReset(out);
    expect([...out.subarray(0, n)].sort()).toEqual([102, 103, 104, 105, 106, 107, 108, 109, 200, 201]);
    expect(drv.inFlight()).toBe(0);
    expect(drv.freeDescriptors()).toBe(16);
    expect(drv.availIdx).toBe(0);
    expect(drv.lastUsedIdx).toBe(0);
    expect(raw.availIdx()).toBe(0);
    // Descriptors are not zeroed (the device never reads past avail.idx; each is rewritten before reuse).

    // The queue works again from index 0, over the whole table.
    for (let t = 0; t < 16; t++) expect(drv.addBuffer(a, 64, false, 300 + t)).toBeGreaterThanOrEqual(0);
    drv.publish();
    for (let i = 0; i < 16; i++) {
      expect(dev.pop(chain)).toBe('chain');
      dev.pushUsed(chain.head, 0);
    }
    dev.publishUsed();
    expect(drv.harvest(toks, lens, 16)).toBe(16);
    expect([...toks]).toEqual(Array.from({ length: 16 }, (_, i) => 300 + i));
  });

  it('works with a disabled reset too, and checks the output size first', () => {
    const r = scenario();
    expect(r.drv.inFlight()).toBe(10);
    expect(() => r.drv.reclaimAfterReset(new Uint32Array(9))).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
    );
    expect(r.drv.inFlight()).toBe(10);
    const out = new Uint32Array(10);
    expect(r.drv.reclaimAfterReset(out)).toBe(10);
    expect([...out].sort()).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    expect(r.dev.pop(r.chain)).toBe('empty'); // disabled
    r.dev.reset(true);
    expect(r.dev.pop(r.chain)).toBe('empty'); // nothing available
  });
});

// What the driver does with an impossible used ring: used-ring-untrusted.test.ts.
describe('DriverQueue: a device that fails the queue', () => {
  function posted(isTx: boolean) {
    const r = rig(isTx, 8);
    const a = r.pool.offsetOf(r.pool.alloc());
    for (let i = 0; i < 4; i++) r.drv.addBuffer(a, 100, !isTx, 10 + i);
    r.drv.publish();
    return r;
  }

  it('status() and state() show the device failing the queue', () => {
    const { drv, dev, raw, chain } = posted(true);
    raw.avail(4, 99);
    raw.setAvailIdx(5);
    for (let i = 0; i < 4; i++) expect(dev.pop(chain)).toBe('chain');
    expect(dev.pop(chain)).toBe('broken');
    expect(drv.state()).toBe(QueueState.NeedsReset);
    expect(drv.status()).toEqual({
      state: QueueState.NeedsReset,
      error: RingError.HeadOutOfRange,
      detail: 99,
      vid: 0,
    });
  });
});
