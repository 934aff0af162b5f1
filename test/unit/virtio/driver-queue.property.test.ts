/**
 * Property: over any interleaving of driver adds/publishes/harvests and device pops/out-of-order
 * completions/publishes (and queue resets), every token comes back exactly once (from harvest or
 * reclaimAfterReset) and no descriptor is lost or double-counted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BufferPool, createRegion, DriverQueue } from '../../../lib/virtio';
import { DeviceChain, DeviceRing, RawRing } from '../../helpers/device-ring';
import { assertProperty, PROPERTY_TIMEOUT_MS } from '../../helpers/property';

type Op =
  | { t: 'add'; nseg: number }
  | { t: 'publish' }
  | { t: 'pop'; n: number }
  | { t: 'complete'; n: number; pick: number }
  | { t: 'publishUsed' }
  | { t: 'harvest'; max: number }
  | { t: 'reset' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ t: fc.constant('add' as const), nseg: fc.integer({ min: 1, max: 5 }) }),
    weight: 6,
  },
  { arbitrary: fc.constant({ t: 'publish' as const }), weight: 3 },
  { arbitrary: fc.record({ t: fc.constant('pop' as const), n: fc.integer({ min: 1, max: 8 }) }), weight: 3 },
  {
    arbitrary: fc.record({
      t: fc.constant('complete' as const),
      n: fc.integer({ min: 1, max: 8 }),
      pick: fc.nat(),
    }),
    weight: 3,
  },
  { arbitrary: fc.constant({ t: 'publishUsed' as const }), weight: 2 },
  {
    arbitrary: fc.record({ t: fc.constant('harvest' as const), max: fc.integer({ min: 0, max: 10 }) }),
    weight: 3,
  },
  { arbitrary: fc.constant({ t: 'reset' as const }), weight: 1 },
);

function run(isTx: boolean, q: number, ops: Op[]): void {
  const region = createRegion({ queuePairs: 1, queueSize: q, bufferSize: 64, buffersPerQueue: 8 });
  const qi = isTx ? 1 : 0;
  const drv = new DriverQueue(region, qi);
  const dev = new DeviceRing(region.sab, qi, isTx);
  const raw = new RawRing(region.sab, qi);
  const descOwner = new Int32Array(q).fill(-1); // descriptor -> token of the chain holding it
  const chainDescs = new Map<number, number[]>(); // token -> its descriptors
  const pool = new BufferPool(region);
  const addr = pool.offsetOf(pool.alloc());
  const addrs = new Float64Array(5).fill(addr);
  const segLens = new Uint32Array(5).fill(64);
  const chain = new DeviceChain();
  const toks = new Uint32Array(q);
  const lens = new Uint32Array(q);

  let nextToken = 0;
  const outstanding = new Map<number, number>(); // token -> nseg
  const back = new Set<number>();
  const headToken = new Map<number, number>(); // device's view: head -> token (for checking)
  const tokenLen = new Map<number, number>(); // token -> len the device reported
  let held: Array<{ head: number; total: number }> = [];

  const returned = (t: number, len: number | undefined) => {
    if (!outstanding.has(t)) throw new Error(`token ${t} came back but was not outstanding`);
    if (back.has(t)) throw new Error(`token ${t} came back twice`);
    if (len !== undefined && tokenLen.get(t) !== len) throw new Error(`token ${t}: len ${len}`);
    back.add(t);
    descs -= outstanding.get(t)!;
    for (const d of chainDescs.get(t)!) descOwner[d] = -1;
    chainDescs.delete(t);
    outstanding.delete(t);
  };
  let descs = 0; // descriptors held by outstanding chains, per the model
  const check = () => {
    if (drv.freeDescriptors() + descs !== q)
      throw new Error(`free ${drv.freeDescriptors()} + ${descs} != ${q}`);
    if (drv.inFlight() !== outstanding.size)
      throw new Error(`inFlight ${drv.inFlight()} != ${outstanding.size}`);
    if (drv.broken !== null) throw new Error(`broken: ${drv.broken}`);
    if (dev.state() !== 1) throw new Error(`device state ${dev.state()}`);
  };

  for (const op of ops) {
    switch (op.t) {
      case 'add': {
        const t = nextToken;
        const nseg = Math.min(op.nseg, q);
        const h = drv.addChain(addrs, segLens, nseg, isTx ? nseg : 0, t);
        if (h < 0) {
          if (drv.freeDescriptors() >= nseg) throw new Error('addChain refused with enough descriptors');
        } else {
          outstanding.set(t, nseg);
          descs += nseg;
          // The chain's descriptors (walked in the shared table) belong to no other chain.
          const ds: number[] = [];
          for (let d = h, k = 0; k < nseg; k++, d = raw.descNext(d)) {
            if (descOwner[d] !== -1) throw new Error(`descriptor ${d} handed out twice`);
            descOwner[d] = t;
            ds.push(d);
          }
          chainDescs.set(t, ds);
          headToken.set(h, t);
          nextToken++;
        }
        break;
      }
      case 'publish':
        drv.publish();
        break;
      case 'pop':
        for (let i = 0; i < op.n && dev.pop(chain) === 'chain'; i++) {
          held.push({ head: chain.head, total: chain.total });
        }
        break;
      case 'complete':
        for (let i = 0; i < op.n && held.length > 0; i++) {
          const j = (op.pick + i * 7) % held.length;
          const c = held[j]!;
          held.splice(j, 1);
          const len = isTx ? (op.pick + i) % 6 : (op.pick + i) % (c.total + 1);
          tokenLen.set(headToken.get(c.head)!, len);
          dev.pushUsed(c.head, len);
        }
        break;
      case 'publishUsed':
        dev.publishUsed();
        break;
      case 'harvest': {
        const n = drv.harvest(toks, lens, op.max);
        if (n > op.max) throw new Error(`harvest returned ${n} > ${op.max}`);
        for (let i = 0; i < n; i++) returned(toks[i]!, lens[i]!);
        break;
      }
      case 'reset': {
        dev.reset(true);
        held = [];
        const out = new Uint32Array(q);
        const n = drv.reclaimAfterReset(out);
        for (let i = 0; i < n; i++) returned(out[i]!, undefined);
        break;
      }
    }
    check();
  }

  // Drain: everything still outstanding comes back through the ring.
  drv.publish();
  while (dev.pop(chain) === 'chain') held.push({ head: chain.head, total: chain.total });
  for (const c of held) {
    tokenLen.set(headToken.get(c.head)!, 0);
    dev.pushUsed(c.head, 0);
  }
  dev.publishUsed();
  for (let n = drv.harvest(toks, lens, q); n > 0; n = drv.harvest(toks, lens, q)) {
    for (let i = 0; i < n; i++) returned(toks[i]!, lens[i]!);
  }
  check();
  expect(outstanding.size).toBe(0);
  expect(back.size).toBe(nextToken);
  expect(drv.freeDescriptors()).toBe(q);
}

describe('DriverQueue property: tokens and descriptors are conserved', {
  timeout: PROPERTY_TIMEOUT_MS,
}, () => {
  it('under random interleavings with out-of-order completion and resets', () => {
    assertProperty(
      fc.property(
        fc.boolean(),
        fc.constantFrom(2, 4, 8, 16),
        fc.array(opArb, { minLength: 1, maxLength: 400, size: 'max' }),
        (isTx, q, ops) => run(isTx, q, ops),
      ),
      { numRuns: 300 },
    );
  });

  it('across the u16 index wrap (long runs on a tiny queue)', () => {
    const cycle: Op[] = [
      { t: 'add', nseg: 1 },
      { t: 'add', nseg: 1 },
      { t: 'publish' },
      { t: 'pop', n: 2 },
      { t: 'complete', n: 2, pick: 1 },
      { t: 'publishUsed' },
      { t: 'harvest', max: 2 },
    ];
    const prefix: Op[] = [];
    for (let i = 0; i < 33_000; i++) prefix.push(...cycle); // 66k chains: both indices wrap
    assertProperty(
      fc.property(fc.boolean(), fc.array(opArb, { maxLength: 60, size: 'max' }), (isTx, tail) => {
        run(isTx, 2, [...prefix, ...tail]);
      }),
      { numRuns: 4, fixedRuns: true }, // each run replays the 231k-op prefix
    );
  });
});
