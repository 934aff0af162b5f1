// Offloads on the wire backend (issue 13, point 1): virtio-net features negotiated per end and
// shown in info(); the virtio_net_hdr carried through with the frame; what the device does for an
// end that did not accept a receive offload (a GSO frame is dropped and counted, a partial
// checksum is completed); and a malformed transmit header stops that queue only, with a code.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import type { CondisError } from '../../lib/errors';
import { QueueState } from '../../lib/virtio/layout';
import {
  kBigRxBufferBytes,
  kDefaultVnetFeatures,
  setVnetU16,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_UDP,
  type VirtioNetFeature,
  VnetHdrFault,
  VnetHdrOff,
  vnetU16,
} from '../../lib/virtio/vnet-hdr';
import { frame } from '../helpers/frames';
import { IPPROTO_TCP, IPPROTO_UDP, inetFrame, l4ChecksumOk } from '../helpers/inet';
import { waitUntil } from '../helpers/wait';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

const ALL: VirtioNetFeature[] = [
  'CSUM',
  'GUEST_CSUM',
  'GUEST_TSO4',
  'GUEST_TSO6',
  'HOST_TSO4',
  'HOST_TSO6',
  'HOST_USO',
  'GUEST_USO4',
  'GUEST_USO6',
];
const BIG = Math.ceil(kBigRxBufferBytes / 64) * 64;

/** A wire whose ends accepted `fa` and `fb`, a FramePort on pair 0 of each; b keeps what it receives, header included. */
function wire(fa: VirtioNetFeature[], fb: VirtioNetFeature[]) {
  const [a, b] = openWirePair(
    { vnetHdr: true, queuePairs: 2, queueSize: 16, bufferSize: BIG, features: fa },
    { features: fb },
  );
  open.push(a, b);
  const pa = new FramePort(a, 0);
  const pb = new FramePort(b, 0);
  const got: Uint8Array[] = [];
  pb.onFrame = (bytes, off, len) => got.push(bytes.slice(off - 12, off + len));
  a.onInterrupt = () => pa.poll();
  b.onInterrupt = () => pb.poll();
  pb.postRx();
  return { a, b, pa, pb, got };
}

/** header + frame in one buffer, as sendWithHeader takes them. */
function withHeader(f: Uint8Array, set: (h: Uint8Array) => void): Uint8Array {
  const out = new Uint8Array(12 + f.length);
  out.set(f, 12);
  set(out);
  return out;
}

describe('virtio-net features on the wire', () => {
  it('offers every feature, negotiates what the driver accepts, defaults to the transmit offloads', () => {
    const [a, b] = openWirePair({ vnetHdr: true, features: ['CSUM', 'GUEST_CSUM', 'HOST_TSO4'] });
    open.push(a, b);
    expect(a.info().features.offered).toEqual(expect.arrayContaining(ALL));
    expect(a.info().features.negotiated).toEqual(['CSUM', 'GUEST_CSUM', 'HOST_TSO4']);
    expect(a.info().maxFrame).toBe(65535 + 18);
    const [c, d] = openWirePair({ vnetHdr: true });
    open.push(c, d);
    expect(c.info().features.negotiated.sort()).toEqual([...kDefaultVnetFeatures].sort());
    const [e, f] = openWirePair({});
    open.push(e, f);
    expect(e.info().features).toEqual({ offered: [], negotiated: [] });
    expect(e.info().maxFrame).toBe(9216 + 18);
  });

  it('refuses a feature without the one it depends on, features without vnetHdr, and unknown names', () => {
    expect(() => openWirePair({ vnetHdr: true, features: ['GUEST_TSO4'] })).toThrow(
      expect.objectContaining({
        code: 'ERR_CONDIS_INVALID_ARG',
        message: expect.stringMatching(/GUEST_TSO4 needs GUEST_CSUM/),
      }),
    );
    expect(() => openWirePair({ features: ['CSUM'] })).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
    );
    expect(() => openWirePair({ vnetHdr: true, features: ['MRG_RXBUF' as VirtioNetFeature] })).toThrow(
      expect.objectContaining({
        code: 'ERR_CONDIS_INVALID_ARG',
        message: expect.stringMatching(/unknown virtio-net feature/),
      }),
    );
  });
});

describe('the header rides with the frame', () => {
  it('a GSO frame with a partial checksum arrives whole, header intact, at an end that accepted GUEST_TSO4', async () => {
    const { pa, got } = wire(ALL, ALL);
    const t = inetFrame({ proto: IPPROTO_TCP, payload: 20_000, csum: 'partial' });
    const buf = withHeader(t.frame, (h) => {
      h[VnetHdrOff.flags] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      h[VnetHdrOff.gsoType] = VIRTIO_NET_HDR_GSO_TCPV4;
      setVnetU16(h, 0, VnetHdrOff.hdrLen, t.hdrLen);
      setVnetU16(h, 0, VnetHdrOff.gsoSize, 1448);
      setVnetU16(h, 0, VnetHdrOff.csumStart, t.csumStart);
      setVnetU16(h, 0, VnetHdrOff.csumOffset, t.csumOffset);
    });
    expect(pa.sendWithHeader(buf, 12, t.frame.length)).toBe(true);
    pa.flush();
    await waitUntil(() => got.length === 1, 'the GSO frame');
    const r = got[0]!;
    expect(r.length).toBe(12 + t.frame.length);
    expect(r[VnetHdrOff.gsoType]).toBe(VIRTIO_NET_HDR_GSO_TCPV4);
    expect(vnetU16(r, 0, VnetHdrOff.gsoSize)).toBe(1448);
    expect(r[VnetHdrOff.flags]).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
    expect(r.subarray(12)).toEqual(t.frame);
  });

  it('a GSO frame to an end that did not accept GUEST_TSO4 is dropped and counted (the device does not segment)', async () => {
    const { a, b, pa, got } = wire(ALL, ['CSUM', 'GUEST_CSUM']);
    const t = inetFrame({ proto: IPPROTO_TCP, payload: 4000, csum: 'partial' });
    const buf = withHeader(t.frame, (h) => {
      h[VnetHdrOff.flags] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      h[VnetHdrOff.gsoType] = VIRTIO_NET_HDR_GSO_TCPV4;
      setVnetU16(h, 0, VnetHdrOff.hdrLen, t.hdrLen);
      setVnetU16(h, 0, VnetHdrOff.gsoSize, 1448);
      setVnetU16(h, 0, VnetHdrOff.csumStart, t.csumStart);
      setVnetU16(h, 0, VnetHdrOff.csumOffset, t.csumOffset);
    });
    pa.sendWithHeader(buf, 12, t.frame.length);
    pa.send(frame(64, 1)); // a plain frame behind it still arrives
    pa.flush();
    await waitUntil(() => got.length === 1, 'the plain frame');
    expect(b.stats().pairs[0]!.rxGsoDropped).toBe(1);
    expect(a.stats().pairs[0]!.txFrames).toBe(2); // sent, as on a cable: the far end dropped it
    expect(got[0]!.length).toBe(12 + 64);
  });

  it.each([
    ['TCP', IPPROTO_TCP],
    ['UDP', IPPROTO_UDP],
  ] as const)(
    'a partial %s checksum is completed for an end without GUEST_CSUM, and left partial for one with it',
    async (_n, proto) => {
      const t = inetFrame({ proto, payload: 999, csum: 'partial' }); // odd length: the last byte pads
      const hdr = (h: Uint8Array) => {
        h[VnetHdrOff.flags] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        setVnetU16(h, 0, VnetHdrOff.csumStart, t.csumStart);
        setVnetU16(h, 0, VnetHdrOff.csumOffset, t.csumOffset);
      };
      expect(l4ChecksumOk(t.frame, 14)).toBe(false);

      const plain = wire(ALL, ['CSUM', 'HOST_TSO4']);
      plain.pa.sendWithHeader(withHeader(t.frame, hdr), 12, t.frame.length);
      plain.pa.flush();
      await waitUntil(() => plain.got.length === 1, 'the frame');
      const r = plain.got[0]!;
      expect(r[VnetHdrOff.flags]).toBe(0);
      expect(l4ChecksumOk(r.subarray(12), 14)).toBe(true);
      expect(plain.b.stats().csumCompleted).toBe(1);

      const csum = wire(ALL, ALL);
      csum.pa.sendWithHeader(withHeader(t.frame, hdr), 12, t.frame.length);
      csum.pa.flush();
      await waitUntil(() => csum.got.length === 1, 'the frame');
      expect(csum.got[0]![VnetHdrOff.flags]).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
      expect(csum.got[0]!.subarray(12)).toEqual(t.frame);
      expect(csum.b.stats().csumCompleted).toBe(0);
    },
  );
});

describe('a malformed transmit header stops that queue only (ERR_CONDIS_RING_BAD_VNET_HDR)', () => {
  const t = inetFrame({ proto: IPPROTO_TCP, payload: 100, csum: 'partial' });
  const cases: Array<[string, VnetHdrFault, VirtioNetFeature[], (h: Uint8Array) => void]> = [
    ['DATA_VALID on transmit', VnetHdrFault.UnknownFlags, ALL, (h) => (h[0] = VIRTIO_NET_HDR_F_DATA_VALID)],
    [
      'gso_type UDP (UFO, not offered)',
      VnetHdrFault.UnknownGsoType,
      ALL,
      (h) => {
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h[1] = VIRTIO_NET_HDR_GSO_UDP;
        setVnetU16(h, 0, VnetHdrOff.gsoSize, 1000);
        setVnetU16(h, 0, VnetHdrOff.csumStart, t.csumStart);
        setVnetU16(h, 0, VnetHdrOff.csumOffset, t.csumOffset);
      },
    ],
    [
      'TSO4 without HOST_TSO4',
      VnetHdrFault.GsoNotNegotiated,
      ['CSUM'],
      (h) => {
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        setVnetU16(h, 0, VnetHdrOff.gsoSize, 1000);
        setVnetU16(h, 0, VnetHdrOff.csumStart, t.csumStart);
        setVnetU16(h, 0, VnetHdrOff.csumOffset, t.csumOffset);
      },
    ],
    [
      'gso_size 0 on a GSO frame',
      VnetHdrFault.GsoSizeZero,
      ALL,
      (h) => {
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        setVnetU16(h, 0, VnetHdrOff.csumStart, t.csumStart);
        setVnetU16(h, 0, VnetHdrOff.csumOffset, t.csumOffset);
      },
    ],
    [
      'NEEDS_CSUM without CSUM',
      VnetHdrFault.CsumNotNegotiated,
      [],
      (h) => {
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        setVnetU16(h, 0, VnetHdrOff.csumStart, t.csumStart);
        setVnetU16(h, 0, VnetHdrOff.csumOffset, t.csumOffset);
      },
    ],
    [
      'csum_start past the frame',
      VnetHdrFault.CsumPastFrame,
      ALL,
      (h) => {
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        setVnetU16(h, 0, VnetHdrOff.csumStart, t.frame.length);
        setVnetU16(h, 0, VnetHdrOff.csumOffset, 0);
      },
    ],
    [
      'a GSO frame without NEEDS_CSUM',
      VnetHdrFault.GsoWithoutCsum,
      ALL,
      (h) => {
        h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        setVnetU16(h, 0, VnetHdrOff.gsoSize, 1000);
      },
    ],
  ];
  it.each(cases)('%s', async (_name, fault, features, set) => {
    const [a, b] = openWirePair({ vnetHdr: true, queuePairs: 2, queueSize: 16, features });
    open.push(a, b);
    a.bindPair(1, 7);
    b.bindPair(1, 7);
    const [a0, a1, b1] = [new FramePort(a, 0), new FramePort(a, 1), new FramePort(b, 1)];
    const errors: CondisError[] = [];
    a.on('ringError', (e) => errors.push(e));
    a.onInterrupt = () => {
      a0.poll();
      a1.poll();
    };
    b.onInterrupt = () => b1.poll();
    b1.postRx();
    a0.sendWithHeader(withHeader(t.frame, set), 12, t.frame.length);
    // sendWithHeader clears DATA_VALID as a driver must: write the bad flag back for that case.
    if (fault === VnetHdrFault.UnknownFlags) {
      const used = a0.txPool.offsetOf(a0.txPool.firstSlot);
      a.region.u8[used] = VIRTIO_NET_HDR_F_DATA_VALID;
    }
    a0.flush();
    await waitUntil(() => errors.length > 0, 'ringError');
    expect(errors[0]!.code).toBe('ERR_CONDIS_RING_BAD_VNET_HDR');
    expect(errors[0]!.details.queue).toBe(1);
    expect(a.tx[0]!.status()).toMatchObject({ state: QueueState.NeedsReset, detail: fault });
    // Pair 1 still moves frames.
    for (let i = 0; i < 5; i++) a1.send(frame(64, i));
    a1.flush();
    await waitUntil(() => b1.received === 5, 'pair 1 after the fault');
    expect(errors.length).toBe(1);
  });
});
