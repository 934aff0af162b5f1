// NDIS task offloads through the reference miniport on the wire backend (issue 13, point 2): a
// protocol's LSO NBL (20000 bytes of TCP payload, MSS 1448) leaves device A with a GSO
// virtio_net_hdr and reaches device B's protocol as ONE NBL with its RSC info (CoalescedSegCount,
// MSS) and a succeeded checksum state; a receiver that did not take GUEST_TSO never sees it (the
// device drops it: rxGsoDropped). No privileges.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, openWirePair } from '../../lib/device';
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
import { kBigRxBufferBytes, type VirtioNetFeature } from '../../lib/virtio/vnet-hdr';
import { IPPROTO_TCP, inetFrame } from '../helpers/inet';
import { waitUntil } from '../helpers/wait';
import { makeRig } from './harness';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

const BIG = Math.ceil(kBigRxBufferBytes / 64) * 64;
const PAYLOAD = 20000;
const MSS = 1448;

interface Seen {
  segs: number;
  mss: number;
  csumRx: number;
  len: number;
}

async function run(fb: readonly VirtioNetFeature[], offloadsB: boolean) {
  // Small rings: 2 pairs x 2 queues x 16 buffers x 64 KiB per device.
  const [a, b] = openWirePair(
    { vnetHdr: true, queuePairs: 2, queueSize: 16, bufferSize: BIG, features: [...kMiniportOffloadFeatures] },
    { features: [...fb] },
  );
  open.push(a, b);
  const seen: Seen[] = [];
  const ra = makeRig(a, {}, { offloads: true });
  const rb = makeRig(
    b,
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
    { offloads: offloadsB },
  );
  expect(await ra.client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
  expect(await rb.client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
  const f = inetFrame({ proto: IPPROTO_TCP, payload: PAYLOAD, csum: 'partial' });
  const nbl = makeNbl(f.frame);
  nbl.lsoType = NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE;
  nbl.lsoMss = MSS;
  nbl.lsoTcpHeaderOffset = f.csumStart;
  nbl.lsoIpVersion = NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4;
  nbl.csumTx = NdisCsumTx.IsIPv4 | NdisCsumTx.TcpChecksum;
  nbl.csumTcpHeaderOffset = f.csumStart;
  ra.client.sendNbls([nbl]);
  await waitUntil(() => ra.client.completed === 1, 'the LSO send completes');
  expect([...ra.client.statuses]).toEqual([['SUCCESS', 1]]);
  expect(nbl.lsoTransmitCompleteBytes).toBe(PAYLOAD);
  expect(ra.ndis.verifier.codes()).toEqual([]);
  return { a, b, ra, rb, seen, f };
}

describe('NDIS offloads through the miniport on the wire', () => {
  it('an LSO NBL arrives as ONE NBL with its coalesced-segment count, MSS and checksum state', async () => {
    const { rb, seen, f } = await run(kMiniportOffloadFeatures, true);
    await waitUntil(() => seen.length === 1, 'one indication');
    expect(seen[0]).toEqual({
      segs: Math.ceil(PAYLOAD / MSS),
      mss: MSS,
      // NEEDS_CSUM on receive: known good, checksum field partial.
      csumRx:
        NdisCsumRx.TcpChecksumSucceeded |
        NdisCsumRx.UdpChecksumSucceeded |
        NdisCsumRx.IpChecksumSucceeded |
        NdisCsumRx.ChecksumPartial,
      len: f.frame.length,
    });
    expect(rb.ndis.queryOffload(rb.adapter.handle)!.Rsc.IPv4.Enabled).toBe(true);
  });

  it('a receiver without GUEST_TSO never sees it: the device drops the GSO frame', async () => {
    const { b, seen } = await run(['CSUM', 'HOST_TSO4'], false);
    await waitUntil(() => b.stats().pairs.some((p) => p.rxGsoDropped === 1), 'rxGsoDropped');
    expect(seen).toEqual([]);
  });
});
