// NDIS task offloads with the kernel as the peer (issue 13, point 6), through the reference
// miniport with `offloads: true` on a real TAP and a VC on VID 42:
//   - a GSO packet the host builds (AF_PACKET + PACKET_VNET_HDR, tagged with the VC's VID)
//     reaches the protocol as ONE NBL with its coalesced-segment count, MSS and checksum state;
//   - a protocol's LSO NBL leaves the TAP and the kernel segments it: an AF_PACKET capture on the
//     far TAP (tapA -> tc mirred -> tapB) sees MSS-sized segments, tagged with the VID, each with
//     valid IP and TCP checksums.
import { afterEach, describe, expect, it } from 'vitest';
import type { Device } from '../../lib/device';
import { condisCallParameters, kMiniportOffloadFeatures } from '../../lib/miniport';
import {
  makeNbl,
  NDIS_STATUS_SUCCESS,
  NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4,
  NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE,
  NdisCsumRx,
  NdisCsumTx,
  type NetBufferList,
} from '../../lib/ndis';
import {
  kBigRxBufferBytes,
  setVnetU16,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VnetHdrOff,
} from '../../lib/virtio/vnet-hdr';
import { ifName, mirred, openQuietTap, packetCapture, packetSendVnet, shQuiet } from '../helpers/host';
import { IPPROTO_TCP, inetFrame, ipChecksumOk, l4ChecksumOk } from '../helpers/inet';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';
import { makeRig } from '../miniport/harness';

const enabled = tapTestsEnabled('offloads-ndis-tap');

const BIG = Math.ceil(kBigRxBufferBytes / 64) * 64;
const MSS = 1448;
const PAYLOAD = 20_000;
const SEGMENTS = Math.ceil(PAYLOAD / MSS);
const VID = 42;

/** An offload TAP: virtio-net header, the miniport's features, 64 KiB buffers. */
function offloadTap(name: string): Device {
  return openQuietTap({
    name,
    vnetHdr: true,
    features: [...kMiniportOffloadFeatures],
    queuePairs: 2,
    queueSize: 16,
    bufferSize: BIG,
  });
}

describe.runIf(enabled)('NDIS offloads on a TAP, the kernel as the peer', () => {
  const devices: Device[] = [];
  const names: string[] = [];
  afterEach(async () => {
    for (const d of devices.splice(0)) await d.close();
    for (const n of names.splice(0)) shQuiet('ip', ['link', 'del', n]);
  });

  it('a host GSO packet on the VC reaches the protocol as ONE NBL with its MSS and checksum state', async () => {
    const name = ifName('conR');
    names.push(name);
    const dev = offloadTap(name);
    devices.push(dev);
    const seen: Array<{ segs: number; mss: number; csumRx: number; len: number }> = [];
    const rig = makeRig(
      dev,
      {
        observer: {
          onIndicate: (_vc, list) => {
            for (let p: NetBufferList | null = list; p; p = p.next)
              seen.push({
                segs: p.rscCoalescedSegCount,
                mss: p.rscMss,
                csumRx: p.csumRx,
                len: p.firstNetBuffer!.dataLength,
              });
          },
        },
      },
      { offloads: true },
    );
    expect(await rig.client.connect(condisCallParameters(VID))).toBe(NDIS_STATUS_SUCCESS);

    const t = inetFrame({ proto: IPPROTO_TCP, payload: PAYLOAD, csum: 'partial' });
    const tagged = new Uint8Array(t.frame.length + 4);
    tagged.set(t.frame.subarray(0, 12), 0);
    tagged.set([0x81, 0x00, VID >>> 8, VID & 0xff], 12);
    tagged.set(t.frame.subarray(12), 16);
    const h = new Uint8Array(10); // struct virtio_net_hdr, as packet sockets take it
    h[VnetHdrOff.flags] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h[VnetHdrOff.gsoType] = VIRTIO_NET_HDR_GSO_TCPV4;
    setVnetU16(h, 0, VnetHdrOff.hdrLen, t.hdrLen + 4);
    setVnetU16(h, 0, VnetHdrOff.gsoSize, MSS);
    setVnetU16(h, 0, VnetHdrOff.csumStart, t.csumStart + 4);
    setVnetU16(h, 0, VnetHdrOff.csumOffset, t.csumOffset);
    packetSendVnet(name, Buffer.from(h).toString('hex'), Buffer.from(tagged).toString('hex'));

    await waitUntil(() => seen.length >= 1, 'the indication');
    expect(seen).toEqual([
      {
        segs: SEGMENTS,
        mss: MSS,
        csumRx:
          NdisCsumRx.TcpChecksumSucceeded |
          NdisCsumRx.UdpChecksumSucceeded |
          NdisCsumRx.IpChecksumSucceeded |
          NdisCsumRx.ChecksumPartial,
        len: t.frame.length,
      },
    ]);
  });

  it("a protocol's LSO NBL leaves the TAP and the kernel cuts it into MSS-sized segments with valid checksums", async () => {
    const [A, B] = [ifName('conA'), ifName('conB')];
    names.push(A, B);
    const a = offloadTap(A);
    devices.push(a);
    // B: a plain TAP reader (no vnet header): the kernel must segment and checksum for it.
    const b = openQuietTap({ name: B, queuePairs: 1, queueSize: 64 });
    devices.push(b);
    mirred(A, B);
    const rig = makeRig(a, {}, { offloads: true });
    expect(await rig.client.connect(condisCallParameters(VID))).toBe(NDIS_STATUS_SUCCESS);
    const cap = packetCapture(B, 0x8100, SEGMENTS);
    await cap.ready;

    const t = inetFrame({ proto: IPPROTO_TCP, payload: PAYLOAD, csum: 'partial' });
    const nbl = makeNbl(t.frame);
    nbl.lsoType = NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE;
    nbl.lsoMss = MSS;
    nbl.lsoTcpHeaderOffset = t.csumStart;
    nbl.lsoIpVersion = NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4;
    nbl.csumTx = NdisCsumTx.IsIPv4 | NdisCsumTx.TcpChecksum;
    nbl.csumTcpHeaderOffset = t.csumStart;
    rig.client.sendNbls([nbl]);
    await waitUntil(() => rig.client.completed === 1, 'the LSO send completes');
    expect([...rig.client.statuses]).toEqual([['SUCCESS', 1]]);
    expect(nbl.lsoTransmitCompleteBytes).toBe(PAYLOAD);

    const seen = (await cap.done).map((x) => Uint8Array.from(Buffer.from(x, 'hex')));
    expect(seen.length).toBe(SEGMENTS);
    let payload = 0;
    for (const f of seen) {
      expect(((f[14]! << 8) | f[15]!) & 0x0fff).toBe(VID);
      expect(f.length).toBeLessThanOrEqual(18 + 40 + MSS);
      expect(ipChecksumOk(f, 18)).toBe(true);
      expect(l4ChecksumOk(f, 18)).toBe(true);
      payload += f.length - 18 - 40;
    }
    expect(payload).toBe(PAYLOAD);
    expect(rig.ndis.verifier.codes()).toEqual([]);
  });
});
