/**
 * Fuzz: the driver side's used-ring harvest (lib/virtio/driver-queue.ts: harvest,
 * harvestAndRepost, enableInterrupts, reclaimAfterReset) against a device that is honest most of
 * the time (test/helpers/device-ring.ts pops, completes and publishes) and hostile the rest: it
 * writes used.idx anywhere (one step past what was published, far ahead, behind), used elements
 * naming any id (in flight, unpublished, free, the queue size, random u32) with any len (the
 * chain's writable bytes, one more, random), and scribbles on the descriptor table.
 *
 * What must hold after every operation, whatever the device wrote:
 *   - nothing throws;
 *   - harvest returns at most `max` (and what the output arrays hold);
 *   - every token it returns belongs to a chain the driver published to the device and the
 *     device has not given back since (a chain added but not yet published, or reposted and not
 *     yet republished, cannot have been used);
 *   - a receive chain's len is at most its writable bytes;
 *   - the driver's accounting: free descriptors + descriptors of chains in flight = queue size,
 *     inFlight() = chains in flight, and no descriptor belongs to two chains in flight;
 *   - harvest takes exactly what a reference model of the used-ring checks says (below), in
 *     order, and stops the queue at the first impossible entry with that entry's code:
 *     used.idx past what was published -> USED_IDX_TOO_FAR; an id beyond the table, or not the
 *     head of a chain the device was shown -> USED_ID_UNKNOWN, or USED_ID_REPEATED when the
 *     device had returned that head and it was not made available to it again since; a receive
 *     len past the chain's writable bytes -> USED_LEN_TOO_LONG; onBroken hears it once;
 *   - once the queue is broken, harvest returns 0 and enableInterrupts false until
 *     reclaimAfterReset;
 *   - a poll loop (harvest until 0, then enableInterrupts, again while it says more came) ends.
 *
 * Three bugs it found before the driver side's used-ring hardening (issue 9 point 4) are pinned
 * below as plain regression tests.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BufferPool, createRegion, DriverQueue, UsedRingError } from '../../lib/virtio';
import { DeviceChain, DeviceRing, RawRing } from '../helpers/device-ring';
import { fuzz, fuzzTimeout } from './fuzz';

type Op =
  | { t: 'add'; nseg: number }
  | { t: 'publish' }
  | { t: 'pop'; n: number }
  | { t: 'complete'; n: number; pick: number; over: boolean }
  | { t: 'publishUsed' }
  | { t: 'usedIdx'; near: boolean; v: number }
  | { t: 'usedEntry'; slot: number; id: IdPick; len: LenPick; bump: boolean }
  | { t: 'scribble'; d: number; addr: number; len: number; flags: number; next: number }
  | { t: 'harvest'; max: number; repost: boolean; short: boolean }
  | { t: 'enable'; delay: number }
  | { t: 'poll' }
  | { t: 'reset' };

type IdPick = {
  k: 'inflight' | 'unpublished' | 'recent' | 'previous' | 'free' | 'size' | 'raw';
  v: number;
};
type LenPick = { k: 'cap' | 'capPlus' | 'zero' | 'raw'; v: number };

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const idPick: fc.Arbitrary<IdPick> = fc.record({
  k: fc.constantFrom('inflight', 'unpublished', 'recent', 'previous', 'free', 'size', 'raw'),
  v: u32,
});
const lenPick: fc.Arbitrary<LenPick> = fc.record({
  k: fc.constantFrom('cap', 'capPlus', 'zero', 'raw'),
  v: u32,
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ t: fc.constant('add' as const), nseg: fc.integer({ min: 1, max: 4 }) }),
    weight: 8,
  },
  { arbitrary: fc.constant({ t: 'publish' as const }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('pop' as const), n: fc.integer({ min: 1, max: 6 }) }), weight: 4 },
  {
    arbitrary: fc.record({
      t: fc.constant('complete' as const),
      n: fc.integer({ min: 1, max: 6 }),
      pick: fc.nat(),
      over: fc.boolean(),
    }),
    weight: 4,
  },
  { arbitrary: fc.constant({ t: 'publishUsed' as const }), weight: 3 },
  {
    arbitrary: fc.record({
      t: fc.constant('usedIdx' as const),
      near: fc.boolean(),
      v: fc.integer({ min: 0, max: 0xffff }),
    }),
    weight: 1,
  },
  {
    // An element naming any id, and (bump) used.idx moved just past it, so harvest reads it.
    arbitrary: fc.record({
      t: fc.constant('usedEntry' as const),
      slot: fc.oneof(fc.constant(0), fc.nat()), // 0: the next entry harvest reads
      id: idPick,
      len: lenPick,
      bump: fc.boolean(),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('scribble' as const),
      d: fc.nat(),
      addr: u32,
      len: u32,
      flags: fc.integer({ min: 0, max: 0xffff }),
      next: fc.integer({ min: 0, max: 0xffff }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('harvest' as const),
      max: fc.integer({ min: 0, max: 20 }),
      repost: fc.boolean(),
      short: fc.boolean(),
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({ t: fc.constant('enable' as const), delay: fc.integer({ min: 0, max: 3 }) }),
    weight: 2,
  },
  { arbitrary: fc.constant({ t: 'poll' as const }), weight: 2 },
  { arbitrary: fc.constant({ t: 'reset' as const }), weight: 3 },
);

/** How a poll loop is written (lib/device/port.ts, lib/miniport/adapter.ts): it must end. */
const kPollLimit = 10_000;

interface Chain {
  token: number;
  head: number;
  descs: number[];
  cap: number; // device-writable bytes
  /** Published to the device since it was added or last reposted (the device can have it). */
  shown: boolean;
  /** Came back through harvestAndRepost at least once. */
  reposted: boolean;
}

function run(isTx: boolean, q: number, ops: Op[]): void {
  const region = createRegion({ queuePairs: 1, queueSize: q, bufferSize: 64, buffersPerQueue: 8 });
  const qi = isTx ? 1 : 0;
  const drv = new DriverQueue(region, qi);
  const dev = new DeviceRing(region.sab, qi, isTx);
  const raw = new RawRing(region.sab, qi);
  const pool = new BufferPool(region);
  const addr = pool.offsetOf(pool.alloc());
  const addrs = new Float64Array(4).fill(addr);
  const segLens = new Uint32Array([64, 40, 24, 8]);
  const chain = new DeviceChain();
  const toks = new Uint32Array(q + 4);
  const lens = new Uint32Array(q + 4);
  const shortToks = new Uint32Array(1);
  const shortLens = new Uint32Array(1);

  const inFlight = new Map<number, Chain>(); // token -> chain
  const byHead = new Map<number, Chain>();
  let nextToken = 1;
  let held: number[] = []; // heads the honest device popped and has not completed
  // Per descriptor: the device returned it as a head, and it has not been made available to the
  // device again since (a used entry naming it is a repeat, not an unknown id).
  const returned = new Uint8Array(q);
  let recent = 0; // the head harvest took last (a device replaying an entry names it again)
  let stops = 0; // onBroken calls since the last reset
  drv.onBroken = () => {
    stops++;
  };

  const fail = (what: string): never => {
    throw new Error(what);
  };
  const check = () => {
    let descs = 0;
    for (const c of inFlight.values()) descs += c.descs.length;
    if (drv.freeDescriptors() + descs !== q)
      fail(`free ${drv.freeDescriptors()} + in flight ${descs} != ${q}`);
    if (drv.inFlight() !== inFlight.size) fail(`inFlight() ${drv.inFlight()} != ${inFlight.size}`);
  };
  const taken = (tok: number, len: number, repost: boolean) => {
    const c = inFlight.get(tok);
    if (c === undefined) return fail(`harvest returned token ${tok}, not in flight`);
    // Never shown: added and not yet published (harvest), or reposted and not yet republished
    // (harvestAndRepost: the same head twice in one batch comes here too).
    if (!c.shown) fail(`harvest returned token ${tok} (head ${c.head}), which the device was never shown`);
    if (!isTx && len > c.cap) fail(`harvest returned len ${len} for a chain of ${c.cap} writable bytes`);
    returned[c.head] = 1;
    recent = c.head;
    if (repost) {
      c.shown = false; // a new avail entry, published by the next publish()
      c.reposted = true;
      return;
    }
    inFlight.delete(tok);
    byHead.delete(c.head);
  };
  /**
   * The reference model of harvest's checks: what it must take from the used ring as it is now
   * (tokens and lens, in order) and the code it must stop with, if any. Walks the entries the
   * way the driver does. A head taken earlier in the same batch is no longer the device's,
   * whether harvest freed it or harvestAndRepost offered it again (not yet published): named
   * again, it is a repeat.
   */
  const expected = (max: number, room: number) => {
    const last = drv.lastUsedIdx;
    const pending = (raw.usedIdx() - last) & 0xffff;
    let shownCount = 0;
    for (const c of inFlight.values()) if (c.shown) shownCount++;
    const out = { toks: [] as number[], lens: [] as number[], code: null as string | null };
    if (pending > shownCount) {
      out.code = UsedRingError.IdxTooFar;
      return out;
    }
    const gone = new Set<number>(); // heads taken earlier in this batch
    const lim = Math.min(pending, max, room);
    for (let k = 0; k < lim; k++) {
      const id = raw.usedId(last + k);
      const len = raw.usedLen(last + k);
      const c = id < q && !gone.has(id) ? byHead.get(id) : undefined;
      if (c === undefined || !c.shown) {
        out.code =
          id < q && (returned[id] === 1 || gone.has(id)) ? UsedRingError.IdRepeated : UsedRingError.IdUnknown;
        return out;
      }
      if (!isTx && len > c.cap) {
        out.code = UsedRingError.LenTooLong;
        return out;
      }
      gone.add(id);
      out.toks.push(c.token);
      out.lens.push(len);
    }
    return out;
  };
  const harvest = (max: number, repost: boolean, short: boolean): number => {
    const wasBroken = drv.broken;
    const t = short ? shortToks : toks;
    const l = short ? shortLens : lens;
    const want = wasBroken === null ? expected(max, t.length) : null;
    const n = repost ? drv.harvestAndRepost(t, l, max) : drv.harvest(t, l, max);
    if (!(Number.isInteger(n) && n >= 0 && n <= max && n <= t.length))
      fail(`harvest returned ${n} (max ${max})`);
    if (wasBroken !== null) {
      if (n !== 0) fail(`harvest of a broken queue returned ${n}`);
      if (drv.broken !== wasBroken) fail('a broken queue changed its error');
      return 0;
    }
    const got = { toks: [...t.subarray(0, n)], lens: [...l.subarray(0, n)] };
    if (JSON.stringify(got) !== JSON.stringify({ toks: want!.toks, lens: want!.lens }))
      fail(`harvest took ${JSON.stringify(got)}, the model ${JSON.stringify(want)}`);
    const code = drv.broken?.code ?? null;
    if (code !== want!.code) fail(`harvest stopped with ${code}, the model with ${want!.code}`);
    if (code !== null && drv.broken!.details.queue !== qi)
      fail(`the stop names queue ${drv.broken!.details.queue}`);
    if (stops !== (code === null ? 0 : 1)) fail(`onBroken called ${stops} times`);
    for (let i = 0; i < n; i++) taken(t[i]!, l[i]!, repost);
    return n;
  };
  const pickHead = (p: IdPick, at: number): number => {
    const list = (f: (c: Chain) => boolean) => [...inFlight.values()].filter(f).map((c) => c.head);
    const from = (xs: number[]) => (xs.length === 0 ? p.v % q : xs[p.v % xs.length]!);
    switch (p.k) {
      case 'inflight':
        return from(list((c) => c.shown));
      case 'unpublished':
        return from(list((c) => !c.shown));
      case 'recent':
        return recent;
      case 'previous': // the entry before repeated (one head twice in one batch)
        return raw.usedId(at - 1);
      case 'free': {
        const used = new Set<number>();
        for (const c of inFlight.values()) for (const d of c.descs) used.add(d);
        return from([...Array(q).keys()].filter((d) => !used.has(d)));
      }
      case 'size':
        return q + (p.v % 2);
      case 'raw':
        return p.v;
    }
  };

  for (const op of ops) {
    switch (op.t) {
      case 'add': {
        const nseg = Math.min(op.nseg, q);
        const tok = nextToken++;
        const h = drv.addChain(addrs, segLens, nseg, isTx ? nseg : 0, tok);
        if (h < 0) {
          if (drv.freeDescriptors() >= nseg) fail('addChain refused with enough descriptors free');
          break;
        }
        // Its descriptors, read back from the table right away (before any scribble).
        const descs: number[] = [];
        for (let d = h, k = 0; k < nseg; k++, d = raw.descNext(d)) descs.push(d);
        // Inside a chain a descriptor is no head: a used entry naming it is unknown, not repeated.
        for (const d of descs.slice(1)) returned[d] = 0;
        for (const c of inFlight.values())
          for (const d of descs) if (c.descs.includes(d)) fail(`descriptor ${d} handed out twice`);
        let cap = 0;
        for (let k = 0; k < nseg; k++) cap += isTx ? 0 : segLens[k]!;
        const c: Chain = { token: tok, head: h, descs, cap, shown: false, reposted: false };
        inFlight.set(tok, c);
        byHead.set(h, c);
        break;
      }
      case 'publish':
        drv.publish();
        for (const c of inFlight.values()) c.shown = true;
        break;
      case 'pop':
        for (let i = 0; i < op.n && dev.pop(chain) === 'chain'; i++) held.push(chain.head);
        break;
      case 'complete':
        for (let i = 0; i < op.n && held.length > 0; i++) {
          const j = (op.pick + i * 7) % held.length;
          const head = held[j]!;
          held.splice(j, 1);
          const cap = byHead.get(head)?.cap ?? 64;
          const len = isTx ? (op.pick + i) % 6 : op.over ? cap + 1 : (op.pick + i) % (cap + 1);
          dev.pushUsed(head, len);
        }
        break;
      case 'publishUsed':
        dev.publishUsed();
        break;
      case 'usedIdx': {
        // A hostile used.idx: a few steps around the driver's position, or anywhere.
        const v = op.near ? (drv.lastUsedIdx + (op.v % (q + 3)) - 1) & 0xffff : op.v;
        raw.setUsedIdx(v);
        break;
      }
      case 'usedEntry': {
        const at = (drv.lastUsedIdx + (op.slot % q)) & 0xffff;
        const id = pickHead(op.id, at) >>> 0;
        const cap = byHead.get(id)?.cap ?? 0;
        const len =
          op.len.k === 'cap' ? cap : op.len.k === 'capPlus' ? cap + 1 : op.len.k === 'zero' ? 0 : op.len.v;
        raw.used(at, id, len >>> 0);
        if (op.bump) raw.setUsedIdx((at + 1) & 0xffff);
        break;
      }
      case 'scribble':
        raw.desc(op.d % q, op.addr, op.len, op.flags, op.next);
        break;
      case 'harvest':
        harvest(op.max, op.repost, op.short);
        break;
      case 'enable':
        if (drv.enableInterrupts(op.delay) && drv.broken !== null)
          fail('enableInterrupts of a broken queue reported work');
        break;
      case 'poll': {
        let spins = 0;
        for (;;) {
          while (harvest(q, false, false) > 0) if (++spins > kPollLimit) break;
          if (!drv.enableInterrupts()) break;
          if (++spins > kPollLimit)
            fail(`poll loop still going after ${kPollLimit} rounds (broken: ${drv.broken})`);
        }
        break;
      }
      case 'reset': {
        dev.reset(true);
        held = [];
        const out = new Uint32Array(q);
        const n = drv.reclaimAfterReset(out);
        const back = new Set<number>();
        for (let i = 0; i < n; i++) {
          const tok = out[i]!;
          if (!inFlight.has(tok) || back.has(tok)) fail(`reclaimAfterReset returned token ${tok}`);
          back.add(tok);
        }
        if (back.size !== inFlight.size) fail(`reclaimAfterReset returned ${back.size} of ${inFlight.size}`);
        // A chain in flight at the reset is the driver's again, never returned: its head is not
        // a repeat. A head returned before the reset and still free stays one.
        for (const c of inFlight.values()) returned[c.head] = 0;
        inFlight.clear();
        byHead.clear();
        if (drv.broken !== null) fail('still broken after reclaimAfterReset');
        stops = 0;
        break;
      }
    }
    check();
  }
}

const property = fc.property(
  fc.boolean(),
  fc.constantFrom(2, 4, 8, 16),
  fc.array(opArb, { minLength: 1, maxLength: 200, size: 'max' }),
  (isTx, q, ops) => run(isTx, q, ops),
);

describe('fuzz: DriverQueue harvest against a hostile used ring', () => {
  it(
    'never throws, returns only tokens the device was shown, keeps every descriptor, ends every poll loop',
    () => fuzz('driver-queue harvest', property, 2000),
    fuzzTimeout,
  );

  it('a sanity run reaches deep states: chains taken, harvested and reposted', () => {
    // Without hostile ops the property must see real traffic (guards against a generator that
    // only ever breaks the queue at once).
    const ops: Op[] = [];
    for (let i = 0; i < 50; i++)
      ops.push(
        { t: 'add', nseg: 1 },
        { t: 'publish' },
        { t: 'pop', n: 2 },
        { t: 'complete', n: 2, pick: i, over: false },
        { t: 'publishUsed' },
        { t: 'harvest', max: 4, repost: i % 2 === 0, short: false },
      );
    expect(() => run(false, 4, ops)).not.toThrow();
    expect(() => run(true, 2, ops)).not.toThrow();
  });
});

// Regression tests for what this fuzzer found in DriverQueue before the used-ring hardening
// (issue 9 point 4).
describe('DriverQueue: used-ring bugs found by the fuzzer', () => {
  const rig = (q: number) => {
    const region = createRegion({ queuePairs: 1, queueSize: q, bufferSize: 64 });
    const pool = new BufferPool(region);
    const drv = new DriverQueue(region, 0);
    const raw = new RawRing(region.sab, 0);
    const buf = () => pool.offsetOf(pool.alloc());
    return { drv, raw, buf, toks: new Uint32Array(q), lens: new Uint32Array(q) };
  };

  it('poll-spins-when-broken: a used.idx past what was published ends the poll loop', () => {
    const { drv, raw, toks, lens } = rig(8);
    raw.setUsedIdx(1); // nothing was ever published
    let rounds = 0;
    for (;;) {
      while (drv.harvest(toks, lens, 8) > 0);
      if (!drv.enableInterrupts()) break;
      if (++rounds === 100) break;
    }
    expect(drv.broken?.code).toBe(UsedRingError.IdxTooFar);
    expect(rounds).toBeLessThan(100);
  });

  it('unpublished-id-accepted: harvest refuses a head the driver added but never published', () => {
    const { drv, raw, buf, toks, lens } = rig(2);
    expect(drv.addBuffer(buf(), 64, true, 101)).toBe(0);
    drv.publish();
    expect(drv.addBuffer(buf(), 64, true, 102)).toBe(1); // not published: the device cannot have it
    raw.used(0, 1, 10);
    raw.setUsedIdx(1);
    expect(drv.harvest(toks, lens, 2)).toBe(0);
    expect(drv.broken?.code).toBe(UsedRingError.IdUnknown);
  });

  it('repost-twice-in-one-batch: harvestAndRepost refuses the same head twice before republishing', () => {
    const { drv, raw, buf, toks, lens } = rig(4);
    const a = drv.addBuffer(buf(), 64, true, 201);
    drv.addBuffer(buf(), 64, true, 202);
    drv.publish();
    raw.used(0, a, 10);
    raw.used(1, a, 10); // a second use of a buffer the device was given once
    raw.setUsedIdx(2);
    expect(drv.harvestAndRepost(toks, lens, 4)).toBe(1);
    expect(toks[0]).toBe(201);
    expect(drv.broken?.code).toBe(UsedRingError.IdRepeated);
  });
});
