// Offloads with the kernel as the peer (issue 13, points 1 and 6): a GSO packet the host builds
// (AF_PACKET with PACKET_VNET_HDR, as a guest's virtio driver would) reaches a device that
// accepted GUEST_TSO4 as one large frame with its MSS and a partial checksum, and one that did
// not as MSS-sized segments the kernel made, each with a complete checksum; a GSO frame the device
// sends leaves the TAP and the kernel segments it with valid checksums, untagged and on a VC's
// 802.1Q tag (the device moves csum_start across the tag it inserts: a wrong offset would put
// the kernel's checksum in the wrong place, which these segments' checks catch).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Device, FramePort } from '../../lib/device';
import {
  kBigRxBufferBytes,
  setVnetU16,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  type VirtioNetFeature,
  VnetHdrOff,
  vnetU16,
} from '../../lib/virtio/vnet-hdr';
import { ifName, mirred, openQuietTap, packetCapture, packetSendVnet, shQuiet } from '../helpers/host';
import { IPPROTO_TCP, inetFrame, ipChecksumOk, l4ChecksumOk } from '../helpers/inet';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';

const enabled = tapTestsEnabled('offloads-tap');

const BIG = Math.ceil(kBigRxBufferBytes / 64) * 64;
const MSS = 1448;
const PAYLOAD = 20_000;
const SEGMENTS = Math.ceil(PAYLOAD / MSS);
const RX_ALL: VirtioNetFeature[] = [
  'CSUM',
  'GUEST_CSUM',
  'GUEST_TSO4',
  'GUEST_TSO6',
  'HOST_TSO4',
  'HOST_TSO6',
];

/** The 10-byte struct virtio_net_hdr (packet sockets' layout) of a TCPv4 GSO packet with a partial checksum. */
function legacyGsoHeaderHex(t: ReturnType<typeof inetFrame>, mss: number): string {
  const h = new Uint8Array(10);
  h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
  setVnetU16(h, 0, VnetHdrOff.hdrLen, t.hdrLen);
  setVnetU16(h, 0, VnetHdrOff.gsoSize, mss);
  setVnetU16(h, 0, VnetHdrOff.csumStart, t.csumStart);
  setVnetU16(h, 0, VnetHdrOff.csumOffset, t.csumOffset);
  return Buffer.from(h).toString('hex');
}

/** Completes a NEEDS_CSUM frame's checksum as the receiving stack would (RFC 1071 from csum_start). */
function completeChecksum(f: Uint8Array, csumStart: number, csumOffset: number): void {
  let s = 0;
  for (let i = csumStart; i < f.length; i += 2) s += (f[i]! << 8) | (i + 1 < f.length ? f[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  const v = ~s & 0xffff;
  f[csumStart + csumOffset] = v >>> 8;
  f[csumStart + csumOffset + 1] = v & 0xff;
}

/** TCP payload of an IPv4 frame whose IP header starts at `ip`. */
function tcpPayload(f: Uint8Array, ip: number): Uint8Array {
  const total = (f[ip + 2]! << 8) | f[ip + 3]!;
  const t = ip + (f[ip]! & 0x0f) * 4;
  return f.subarray(t + (f[t + 12]! >>> 4) * 4, ip + total);
}

/** Concatenation of byte arrays. */
function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

const isIpv4 = (f: Uint8Array, eth: number) => f[eth] === 0x08 && f[eth + 1] === 0x00;

describe.runIf(enabled)('offloads: the host as the sender (AF_PACKET + PACKET_VNET_HDR into the TAP)', () => {
  let dev: Device | undefined;
  let name = '';
  afterEach(async () => {
    await dev?.close();
    dev = undefined;
    if (name) shQuiet('ip', ['link', 'del', name]);
  });

  /** A quiet TAP device with `features`, keeping every IPv4 frame it receives (header included). */
  function open(prefix: string, features: VirtioNetFeature[]) {
    name = ifName(prefix);
    dev = openQuietTap({ name, vnetHdr: true, features, queuePairs: 1, queueSize: 64, bufferSize: BIG });
    const port = new FramePort(dev, 0);
    const got: Uint8Array[] = [];
    port.onFrame = (bytes, off, len) => {
      if (isIpv4(bytes, off + 12)) got.push(bytes.slice(off - 12, off + len));
    };
    dev.onInterrupt = () => port.poll();
    port.postRx();
    return got;
  }

  it('reaches a device that accepted GUEST_TSO4 as one frame with its MSS and a partial checksum', async () => {
    const got = open('cofG', RX_ALL);
    const t = inetFrame({ proto: IPPROTO_TCP, payload: PAYLOAD, csum: 'partial' });
    packetSendVnet(name, legacyGsoHeaderHex(t, MSS), Buffer.from(t.frame).toString('hex'));
    await waitUntil(() => got.length >= 1, 'the GSO frame');
    const r = got[0]!;
    expect(r.length).toBe(12 + t.frame.length);
    expect(r[VnetHdrOff.gsoType]).toBe(VIRTIO_NET_HDR_GSO_TCPV4);
    expect(vnetU16(r, 0, VnetHdrOff.gsoSize)).toBe(MSS);
    expect(r[VnetHdrOff.flags]! & VIRTIO_NET_HDR_F_NEEDS_CSUM).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
    expect(vnetU16(r, 0, VnetHdrOff.csumStart)).toBe(t.csumStart);
    const f = r.slice(12);
    expect(tcpPayload(f, 14)).toEqual(tcpPayload(t.frame, 14));
    completeChecksum(f, vnetU16(r, 0, VnetHdrOff.csumStart), vnetU16(r, 0, VnetHdrOff.csumOffset));
    expect(l4ChecksumOk(f, 14)).toBe(true);
    expect(dev!.info().features.negotiated).toEqual(expect.arrayContaining(['GUEST_TSO4']));
    // Read straight into the posted buffer (big buffers and a GUEST_ GSO feature), no staging copy.
    expect(dev!.stats().rxDirect).toBeGreaterThanOrEqual(1);
  });

  it("tagged with a VC's VID, reaches that VC's pair untagged, csum_start moved back by the tag", async () => {
    name = ifName('cofT');
    dev = openQuietTap({
      name,
      vnetHdr: true,
      features: RX_ALL,
      queuePairs: 2,
      queueSize: 64,
      bufferSize: BIG,
    });
    dev.bindPair(1, 42);
    const port = new FramePort(dev, 1);
    const got: Uint8Array[] = [];
    port.onFrame = (bytes, off, len) => got.push(bytes.slice(off - 12, off + len));
    // Pair 0 posted too: the TAP read lands in its big buffer first (the device reads straight
    // into pair 0's buffers), then the tagged frame must move to pair 1 and that buffer go back.
    const port0 = new FramePort(dev, 0);
    const got0: Uint8Array[] = [];
    port0.onFrame = (bytes, off, len) => {
      if (isIpv4(bytes, off + 12)) got0.push(bytes.slice(off - 12, off + len));
    };
    dev.onInterrupt = () => {
      port.poll();
      port0.poll();
    };
    port.postRx();
    port0.postRx();
    const directBefore = dev.stats().rxDirect;
    const t = inetFrame({ proto: IPPROTO_TCP, payload: PAYLOAD, csum: 'partial' });
    const tagged = new Uint8Array(t.frame.length + 4);
    tagged.set(t.frame.subarray(0, 12), 0);
    tagged.set([0x81, 0x00, 0x00, 42], 12);
    tagged.set(t.frame.subarray(12), 16);
    const hdr = legacyGsoHeaderHex({ ...t, csumStart: t.csumStart + 4, hdrLen: t.hdrLen + 4 }, MSS);
    packetSendVnet(name, hdr, Buffer.from(tagged).toString('hex'));
    await waitUntil(() => got.length >= 1, 'the tagged GSO frame on pair 1');
    const r = got[0]!;
    expect(r[VnetHdrOff.gsoType]).toBe(VIRTIO_NET_HDR_GSO_TCPV4);
    expect(vnetU16(r, 0, VnetHdrOff.csumStart)).toBe(t.csumStart);
    const f = r.slice(12);
    expect(f.length).toBe(t.frame.length);
    completeChecksum(f, vnetU16(r, 0, VnetHdrOff.csumStart), vnetU16(r, 0, VnetHdrOff.csumOffset));
    expect(l4ChecksumOk(f, 14)).toBe(true);
    // Not kept in pair 0's buffer: that one went back on its ring, unused.
    expect(got0).toEqual([]);
    expect(dev.stats().rxDirect).toBe(directBefore);
    expect(dev.rx[0]!.inFlight()).toBe(64);
    // Untagged frames after it reach pair 0: the first through staging (the device stages after
    // a frame that was another pair's), the next straight into the buffer again.
    const plainHdr = legacyGsoHeaderHex(t, MSS);
    packetSendVnet(name, plainHdr, Buffer.from(t.frame).toString('hex'));
    await waitUntil(() => got0.length >= 1, 'an untagged GSO frame on pair 0');
    expect(dev.stats().rxDirect).toBe(directBefore);
    packetSendVnet(name, plainHdr, Buffer.from(t.frame).toString('hex'));
    await waitUntil(() => got0.length >= 2, 'a second untagged GSO frame on pair 0');
    expect(dev.stats().rxDirect).toBe(directBefore + 1);
    expect(got0[1]!.subarray(12)).toEqual(t.frame);
  });

  it('reaches a device without GUEST_ features as MSS-sized segments with complete checksums', async () => {
    const got = open('cofS', ['CSUM', 'HOST_TSO4']);
    const t = inetFrame({ proto: IPPROTO_TCP, payload: PAYLOAD, csum: 'partial' });
    packetSendVnet(name, legacyGsoHeaderHex(t, MSS), Buffer.from(t.frame).toString('hex'));
    await waitUntil(() => got.length >= SEGMENTS, 'the segments');
    for (const r of got) {
      expect(r[VnetHdrOff.gsoType]).toBe(0);
      expect(r[VnetHdrOff.flags]).toBe(0);
      const f = r.subarray(12);
      expect(f.length).toBeLessThanOrEqual(14 + 40 + MSS);
      expect(ipChecksumOk(f, 14)).toBe(true);
      expect(l4ChecksumOk(f, 14)).toBe(true);
    }
    expect(concat(got.map((r) => tcpPayload(r.subarray(12), 14)))).toEqual(tcpPayload(t.frame, 14));
  });
});

describe.runIf(enabled)(
  'offloads: the device as the sender, the kernel segments (tapA -> tc mirred -> tapB)',
  () => {
    const A = ifName('cofA');
    const B = ifName('cofB');
    const VID = 42;
    let a: Device;
    let b: Device;

    beforeAll(() => {
      a = openQuietTap({
        name: A,
        vnetHdr: true,
        features: ['CSUM', 'HOST_TSO4', 'HOST_TSO6'],
        queuePairs: 2,
        queueSize: 64,
        bufferSize: BIG,
      });
      // b: no vnet header at all, as a plain TAP reader; the kernel must segment and checksum for it.
      b = openQuietTap({ name: B, queuePairs: 2, queueSize: 256, bufferSize: 2048 });
      mirred(A, B);
      a.bindPair(1, VID);
      b.bindPair(1, VID);
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      shQuiet('ip', ['link', 'del', A]);
      shQuiet('ip', ['link', 'del', B]);
    });

    it.each([
      ['untagged (pair 0)', 0],
      [`on VID ${VID} (pair 1: tag inserted, csum_start moved)`, 1],
    ])(
      'a GSO frame sent %s arrives as valid MSS-sized segments, seen on the wire by AF_PACKET too',
      async (_n, pair) => {
        const pa = new FramePort(a, pair);
        const pb = new FramePort(b, pair);
        const got: Uint8Array[] = [];
        pb.onFrame = (bytes, off, len) => {
          if (isIpv4(bytes, off + 12)) got.push(bytes.slice(off, off + len));
        };
        a.onInterrupt = () => pa.poll();
        b.onInterrupt = () => pb.poll();
        pb.postRx();
        const cap = packetCapture(B, pair === 0 ? 0x0800 : 0x8100, SEGMENTS);
        await cap.ready;

        const t = inetFrame({ proto: IPPROTO_TCP, payload: PAYLOAD, csum: 'partial' });
        const buf = new Uint8Array(12 + t.frame.length);
        buf.set(t.frame, 12);
        buf[VnetHdrOff.flags] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        buf[VnetHdrOff.gsoType] = VIRTIO_NET_HDR_GSO_TCPV4;
        setVnetU16(buf, 0, VnetHdrOff.hdrLen, t.hdrLen);
        setVnetU16(buf, 0, VnetHdrOff.gsoSize, MSS);
        setVnetU16(buf, 0, VnetHdrOff.csumStart, t.csumStart);
        setVnetU16(buf, 0, VnetHdrOff.csumOffset, t.csumOffset);
        expect(pa.sendWithHeader(buf, 12, t.frame.length)).toBe(true);
        pa.flush();

        await waitUntil(() => got.length >= SEGMENTS, `${SEGMENTS} segments at B`);
        for (const f of got) {
          expect(f.length).toBeLessThanOrEqual(14 + 40 + MSS);
          expect(ipChecksumOk(f, 14)).toBe(true);
          expect(l4ChecksumOk(f, 14)).toBe(true);
        }
        expect(concat(got.map((f) => tcpPayload(f, 14)))).toEqual(tcpPayload(t.frame, 14));

        // The kernel's own view of B's transmit: the same segments, tagged with the VC's VID on pair 1.
        const seen = (await cap.done).map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
        expect(seen.length).toBe(SEGMENTS);
        const ip = pair === 0 ? 14 : 18;
        for (const f of seen) {
          if (pair === 1) expect(((f[14]! << 8) | f[15]!) & 0x0fff).toBe(VID);
          expect(ipChecksumOk(f, ip)).toBe(true);
          expect(l4ChecksumOk(f, ip)).toBe(true);
        }
        expect(a.stats().pairs[pair]!.txFrames).toBeGreaterThanOrEqual(1);
      },
    );
  },
);
