/**
 * Fuzz: every TypeScript decoder of bytes from the wire or from the shared region.
 *
 *   lib/cm/signalling.ts      decodeMessage (and encodeMessage, its inverse)
 *   lib/client/{arp,ipv4,icmp}.ts   checkArp, checkIpv4, checkIcmp
 *   lib/client/responder.ts   PingResponder's frame parser (answer(): what a received frame gets)
 *   lib/client/pinger.ts      WirePinger's frame parser (classify(): the replies it counts)
 *   lib/virtio/region.ts      validateRegionHeader (a region header handed to the device)
 * (lib/pcap only writes; nothing under lib/ or test/ reads pcap files.)
 *
 * Inputs are random bytes and, more usefully, valid frames with random bytes changed and random
 * truncation. Properties: nothing throws (a decoder answers undefined or a verdict, as its
 * contract says); nothing reads outside the frame it was given (the frame sits at a random offset
 * inside random guard bytes, and the answer must be the same with other guard bytes); a decoded
 * signalling message is in range and re-encodes to itself, and decode(encode(m)) = m; a reply the
 * responder writes is a well-formed ARP or ICMP echo reply to that request.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArpVerdict,
  checkArp,
  checkIcmp,
  checkIpv4,
  IcmpVerdict,
  Ipv4Verdict,
  PingResponder,
  type ResponderCounters,
} from '../../lib/client';
import { WirePinger } from '../../lib/client/pinger';
import {
  decodeMessage,
  encodeMessage,
  MAX_CALL_REF,
  MessageType,
  type SignallingMessage,
} from '../../lib/cm/signalling';
import { type Device, openWirePair } from '../../lib/device';
import { MiniportAdapter } from '../../lib/miniport';
import { Ndis } from '../../lib/ndis';
import type { NetBufferList } from '../../lib/ndis/nbl';
import {
  kAbiVersion,
  kHeaderBytes,
  kMaxQueues,
  kRegionMagic,
  poolOffsetFor,
  queueLayout,
  RegionHeaderOff,
} from '../../lib/virtio/layout';
import { validateRegionHeader } from '../../lib/virtio/region';
import {
  arpRequest,
  CLIENT_IP,
  CLIENT_MAC,
  checksum,
  echoRequest,
  ip4,
  mac,
  parseArp,
  parseEcho,
} from '../client/packets';
import { fuzz, fuzzTimeout } from './fuzz';

// ---- inputs ------------------------------------------------------------------------------------

/** A valid frame, some bytes changed (position, value), cut at a random length (or not). */
function mutated(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      base,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
    )
    .map(([f, edits, cut]) => {
      const g = Uint8Array.from(f);
      for (const [pos, v] of edits) if (g.length > 0) g[pos % g.length] = v;
      return cut === undefined ? g : g.subarray(0, cut % (g.length + 1));
    });
}

const randomFrame = fc.uint8Array({ maxLength: 1600 });

/** `frame` at a random offset inside guard bytes; `guard` picks them (two different fills). */
function embed(frame: Uint8Array, lead: number, tail: number, guard: number): { b: Uint8Array; off: number } {
  const b = new Uint8Array(lead + frame.length + tail);
  for (let i = 0; i < b.length; i++) b[i] = (guard * 131 + i * 29) & 0xff;
  b.set(frame, lead);
  return { b, off: lead };
}
const placement = fc.record({ lead: fc.integer({ min: 0, max: 40 }), tail: fc.integer({ min: 0, max: 40 }) });

// ---- signalling ---------------------------------------------------------------------------------

const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const flow = fc.record({ tokenRate: u32, peakBandwidth: u32, maxSduSize: u32 });
const base = {
  dst: macArb,
  src: macArb,
  callRef: fc.integer({ min: 1, max: MAX_CALL_REF }),
  toOriginator: fc.boolean(),
};
const messageArb: fc.Arbitrary<SignallingMessage> = fc.oneof(
  fc.record({
    ...base,
    type: fc.constant(MessageType.SETUP),
    vcId: fc.integer({ min: 0, max: 0xffff }),
    sap: u32,
    params: fc.record({ flags: u32, mediaFlags: u32, transmit: flow, receive: flow }),
  }),
  fc.record({ ...base, type: fc.constantFrom(MessageType.CONNECT, MessageType.CONNECT_ACK) }),
  fc.record({
    ...base,
    type: fc.constantFrom(MessageType.RELEASE, MessageType.RELEASE_COMPLETE),
    cause: fc.integer({ min: 0, max: 255 }),
    status: u32,
  }),
) as fc.Arbitrary<SignallingMessage>;

const knownTypes = new Set<number>(Object.values(MessageType));

function checkDecoded(m: SignallingMessage | undefined): void {
  if (m === undefined) return;
  if (!knownTypes.has(m.type)) throw new Error(`decoded an unknown type ${m.type}`);
  if (!(m.callRef >= 1 && m.callRef <= MAX_CALL_REF)) throw new Error(`call reference ${m.callRef}`);
  if (m.dst.length !== 6 || m.src.length !== 6) throw new Error('MAC not 6 bytes');
  // What was accepted re-encodes to a frame that decodes to the same message.
  const again = encodeMessage(m);
  expect(decodeMessage(again, 0, again.length)).toEqual(m);
}

describe('fuzz: signalling decoder', () => {
  it(
    'decode(encode(m)) = m for every message, at any offset in a larger buffer',
    () =>
      fuzz(
        'signalling round trip',
        fc.property(messageArb, placement, (m, p) => {
          const f = encodeMessage(m);
          const { b, off } = embed(f, p.lead, p.tail, 1);
          expect(decodeMessage(b, off, f.length)).toEqual(m);
        }),
        2000,
      ),
    fuzzTimeout,
  );

  it(
    'random and mutated frames: never throws, reads only its frame, accepts only what re-encodes to itself',
    () =>
      fuzz(
        'signalling decode',
        fc.property(fc.oneof(randomFrame, mutated(messageArb.map(encodeMessage))), placement, (f, p) => {
          const x = embed(f, p.lead, p.tail, 1);
          const y = embed(f, p.lead, p.tail, 2);
          const m = decodeMessage(x.b, x.off, f.length);
          expect(decodeMessage(y.b, y.off, f.length)).toEqual(m);
          checkDecoded(m);
        }),
        3000,
      ),
    fuzzTimeout,
  );
});

// ---- ARP / IPv4 / ICMP ----------------------------------------------------------------------------

const me = Uint8Array.from(ip4(CLIENT_IP));
const validFrame = fc.oneof(
  fc
    .record({
      target: fc.constantFrom(CLIENT_IP, '10.42.0.7'),
      op: fc.constantFrom(1, 2),
      sender: fc.constantFrom('10.42.0.1', CLIENT_IP, '0.0.0.0'),
    })
    .map((o) => arpRequest(o.target, { op: o.op, sender: o.sender })),
  fc
    .record({
      id: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constant(0xc0d5)), // 0xc0d5: WirePinger's
      icmpType: fc.constantFrom(8, 0),
      seq: fc.integer({ min: 0, max: 0xffff }),
      payload: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 1400 }),
      tos: fc.integer({ min: 0, max: 255 }),
      fragment: fc.boolean(),
      dst: fc.constantFrom(CLIENT_IP, '10.42.0.9'),
    })
    .map((o) => echoRequest(o)),
);
const clientFrame = fc.oneof(
  { arbitrary: mutated(validFrame), weight: 4 },
  { arbitrary: randomFrame, weight: 1 },
);

describe('fuzz: ARP / IPv4 / ICMP checks', () => {
  it(
    'never throw, answer one of their verdicts, read only the bytes they are given',
    () =>
      fuzz(
        'arp/ipv4/icmp checks',
        fc.property(clientFrame, placement, fc.nat(), (f, p, at) => {
          const x = embed(f, p.lead, p.tail, 1);
          const y = embed(f, p.lead, p.tail, 2);
          // Each check from every plausible start: the frame's L3 offset and a random one.
          for (const start of [14, f.length === 0 ? 0 : at % (f.length + 1)]) {
            const avail = Math.max(0, f.length - start);
            const a = checkArp(x.b, x.off + start, avail, me);
            expect(checkArp(y.b, y.off + start, avail, me)).toBe(a);
            expect(Object.values(ArpVerdict)).toContain(a);
            const v = checkIpv4(x.b, x.off + start, avail, me);
            expect(checkIpv4(y.b, y.off + start, avail, me)).toBe(v);
            expect(Object.values(Ipv4Verdict)).toContain(v);
            if (v === Ipv4Verdict.Ok) {
              // An accepted header: its lengths fit what was there, its checksum holds.
              const ihl = (f[start]! & 15) * 4;
              const total = f[start + 2]! * 256 + f[start + 3]!;
              expect(ihl).toBeGreaterThanOrEqual(20);
              expect(total).toBeGreaterThanOrEqual(ihl);
              expect(total).toBeLessThanOrEqual(avail);
              expect(checksum(f.subarray(start, start + ihl))).toBe(0);
            }
            const c = checkIcmp(x.b, x.off + start, avail);
            expect(checkIcmp(y.b, y.off + start, avail)).toBe(c);
            expect(Object.values(IcmpVerdict)).toContain(c);
            if (c === IcmpVerdict.EchoRequest) expect(checksum(f.subarray(start, start + avail))).toBe(0);
          }
        }),
        3000,
      ),
    fuzzTimeout,
  );
});

// ---- the responder's and the pinger's frame parsers --------------------------------------------

interface ResponderInside {
  answer(b: Uint8Array, off: number, len: number, answering: boolean): NetBufferList | null;
  freeReplies: NetBufferList[];
}
interface PingerInside {
  classify(b: Uint8Array, off: number, len: number): void;
}

describe('fuzz: the reference client and pinger parse any frame', () => {
  let devices: Device[] = [];
  let responder: PingResponder;
  let pinger: WirePinger;
  beforeAll(() => {
    devices = openWirePair({ queuePairs: 2, queueSize: 8 });
    const ndis = new Ndis({ verifier: 'throw' });
    const adapter = new MiniportAdapter(ndis, devices[0]!, {});
    responder = PingResponder.open(ndis, adapter.handle, { vid: 42, ip: CLIENT_IP, mac: CLIENT_MAC });
    pinger = WirePinger.open(ndis, adapter.handle, {
      vid: 43,
      ip: '10.42.0.1',
      mac: '02:00:00:00:42:01',
      target: CLIENT_IP,
    });
  });
  afterAll(() => {
    for (const d of devices) d.destroy();
  });

  const counts = (c: ResponderCounters) => [
    c.arpReplies,
    c.echoReplies,
    c.ignoredNotForUs,
    c.ignoredMalformed,
    c.ignoredUnsupported,
    c.droppedNoBuffer,
    c.droppedTooBig,
    c.droppedStopping,
  ];

  it(
    'PingResponder: one outcome per frame, independent of the bytes around it; every reply well formed',
    async () => {
      // The frame logic is the responder's PingAnswerer (lib/client/ping-answerer.ts).
      const inside = (responder as unknown as { answerer: ResponderInside }).answerer;
      const replyOf = (b: Uint8Array, off: number, len: number) => {
        const before = counts(responder.counters);
        const nbl = inside.answer(b, off, len, true);
        const after = counts(responder.counters);
        const moved = after.map((v, i) => v - before[i]!);
        if (moved.reduce((s, v) => s + v, 0) !== 1) throw new Error(`counters moved ${moved.join(',')}`);
        if (nbl === null) return { moved, bytes: null };
        const nb = nbl.firstNetBuffer!;
        const bytes = nb.buffer.slice(nb.dataOffset, nb.dataOffset + nb.dataLength);
        inside.freeReplies.push(nbl); // as the send completion would
        return { moved, bytes };
      };
      // Two replies to one request differ only in the IPv4 identification (one per reply) and so
      // in the header checksum.
      const comparable = (r: { moved: number[]; bytes: Uint8Array | null }) => {
        if (r.bytes === null || r.bytes[12] !== 0x08 || r.bytes[13] !== 0x00) return r;
        const b = Uint8Array.from(r.bytes);
        b.fill(0, 18, 20);
        b.fill(0, 24, 26);
        return { moved: r.moved, bytes: b };
      };
      await fuzz(
        'responder parse',
        fc.property(clientFrame, placement, (f, p) => {
          const x = embed(f, p.lead, p.tail, 1);
          const y = embed(f, p.lead, p.tail, 2);
          const rx = replyOf(x.b, x.off, f.length);
          const ry = replyOf(y.b, y.off, f.length);
          expect(comparable(ry)).toEqual(comparable(rx));
          if (rx.bytes === null) return;
          const r = rx.bytes;
          expect(r.length).toBeGreaterThanOrEqual(60);
          expect(Array.from(r.subarray(6, 12))).toEqual(mac(CLIENT_MAC));
          if (r[12] === 0x08 && r[13] === 0x06) {
            const a = parseArp(r)!;
            expect(a.op).toBe(2);
            expect(a.spa).toBe(CLIENT_IP);
            expect(a.tpa).toBe(Array.from(f.subarray(28, 32)).join('.')); // the requester's address
            expect(Array.from(f.subarray(38, 42)).join('.')).toBe(CLIENT_IP); // asked for us
          } else {
            const e = parseEcho(r)!;
            expect(e.type).toBe(0);
            expect(e.ipChecksumOk && e.icmpChecksumOk).toBe(true);
            expect(e.src).toBe(CLIENT_IP);
            expect(e.dst).toBe(Array.from(f.subarray(26, 30)).join('.'));
            expect(Array.from(f.subarray(0, 6))).toEqual(mac(CLIENT_MAC)); // unicast to us only
            // The request's identifier, sequence and data come back unchanged.
            const ihl = (f[14]! & 15) * 4;
            const total = f[16]! * 256 + f[17]!;
            expect(e.payload).toEqual(Array.from(f.subarray(14 + ihl + 8, 14 + total)));
          }
        }),
        3000,
      );
      // The run reached the answering paths, not only the refusals.
      expect(responder.counters.arpReplies).toBeGreaterThan(0);
      expect(responder.counters.echoReplies).toBeGreaterThan(0);
    },
    fuzzTimeout,
  );

  it(
    'WirePinger: never throws and counts the same whatever bytes surround the frame',
    async () => {
      const inside = pinger as unknown as PingerInside;
      const state = () => [pinger.framesIn, pinger.repliesReceived, pinger.arpReplies];
      await fuzz(
        'pinger parse',
        fc.property(clientFrame, placement, (f, p) => {
          const x = embed(f, p.lead, p.tail, 1);
          const y = embed(f, p.lead, p.tail, 2);
          const s0 = state();
          inside.classify(x.b, x.off, f.length);
          const s1 = state();
          inside.classify(y.b, y.off, f.length);
          const s2 = state();
          expect(s2.map((v, i) => v - s1[i]!)).toEqual(s1.map((v, i) => v - s0[i]!));
        }),
        3000,
      );
      expect(pinger.arpReplies).toBeGreaterThan(0);
      expect(pinger.repliesReceived).toBeGreaterThan(0);
    },
    fuzzTimeout,
  );
});

// ---- region header ------------------------------------------------------------------------------

describe('fuzz: validateRegionHeader', () => {
  const H = RegionHeaderOff;
  const near = fc
    .record({
      nq: fc.integer({ min: 0, max: kMaxQueues + 2 }),
      qlog: fc.integer({ min: 0, max: 16 }),
      qdelta: fc.integer({ min: -1, max: 1 }),
      strideDelta: fc.integer({ min: -1, max: 1 }),
      poolDelta: fc.integer({ min: -4096, max: 4096 }),
      poolSize: fc.integer({ min: 0, max: 8192 }),
      lenDelta: fc.integer({ min: -2, max: 2 }),
      magic: fc.boolean(),
    })
    .map((o) => {
      const q = (1 << o.qlog) + o.qdelta;
      const nq = o.nq;
      const stride = q >= 2 && q <= 32768 ? queueLayout(q).stride : 64;
      const poolOff = Math.max(0, poolOffsetFor(nq, Math.max(2, Math.min(q, 32768))) + o.poolDelta);
      const len = Math.max(0, Math.min(poolOff + o.poolSize + o.lenDelta, 1 << 22));
      const b = new Uint8Array(len);
      if (len >= 64) {
        const dv = new DataView(b.buffer);
        dv.setUint32(H.magic, o.magic ? kRegionMagic : 0, true);
        dv.setUint32(H.abiVersion, kAbiVersion, true);
        dv.setUint32(H.numQueues, nq, true);
        dv.setUint32(H.queueSize, q >>> 0, true);
        dv.setUint32(H.queuesOffset, kHeaderBytes, true);
        dv.setUint32(H.queueStride, stride + o.strideDelta, true);
        dv.setUint32(H.poolOffset, poolOff, true);
        dv.setUint32(H.poolSize, o.poolSize, true);
      }
      return b;
    });
  const raw = fc.uint8Array({ minLength: 0, maxLength: 5000 });

  it(
    'never throws; a header it accepts has every queue and the pool inside the region',
    () =>
      fuzz(
        'region header',
        fc.property(fc.oneof(near, raw), (b) => {
          const why = validateRegionHeader(b);
          if (why !== null) {
            expect(typeof why).toBe('string');
            expect(why.length).toBeGreaterThan(0);
            return;
          }
          const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
          const r = (o: number) => dv.getUint32(o, true);
          const nq = r(H.numQueues);
          const q = r(H.queueSize);
          const l = queueLayout(q);
          expect(nq % 2).toBe(0);
          expect(nq).toBeGreaterThanOrEqual(2);
          expect(q & (q - 1)).toBe(0);
          expect(r(H.queueStride)).toBe(l.stride);
          expect(kHeaderBytes + nq * l.stride).toBeLessThanOrEqual(r(H.poolOffset));
          expect(r(H.poolSize)).toBeGreaterThan(0);
          expect(r(H.poolOffset) + r(H.poolSize)).toBeLessThanOrEqual(b.length);
        }),
        1500,
      ),
    fuzzTimeout,
  );
});
