// carryOffloadInfo (lib/client/bridge.ts): what the reference bridge asks of the far side's
// miniport for a received NBL — a coalesced TCP receive goes out as LSOv2 with its MSS, a partial
// checksum as a checksum request at the frame's L4 header, short frames included (iperf3's 4-byte
// UDP handshake datagram once went out unchecksummed and was dropped by the peer), and a pooled
// transmit NBL never keeps a previous forward's request.
import { describe, expect, it } from 'vitest';
import { carryOffloadInfo } from '../../lib/client/bridge';
import { makeNbl } from '../../lib/ndis/nbl';
import {
  NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4,
  NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE,
  NdisCsumRx,
  NdisCsumTx,
} from '../../lib/ndis/offload';
import { IPPROTO_TCP, IPPROTO_UDP, inetFrame } from '../helpers/inet';

const PARTIAL =
  NdisCsumRx.TcpChecksumSucceeded |
  NdisCsumRx.UdpChecksumSucceeded |
  NdisCsumRx.IpChecksumSucceeded |
  NdisCsumRx.ChecksumPartial;

describe('carryOffloadInfo: receive result -> send request', () => {
  it('a coalesced TCP receive becomes an LSOv2 send with its MSS and TCP header offset', () => {
    const f = inetFrame({ proto: IPPROTO_TCP, payload: 20_000, csum: 'partial' }).frame;
    const rx = makeNbl(f);
    rx.rscMss = 1448;
    rx.rscCoalescedSegCount = 14;
    rx.csumRx = PARTIAL;
    const tx = makeNbl(new Uint8Array(1));
    carryOffloadInfo(rx, tx, f, 0, f.length);
    expect([tx.lsoType, tx.lsoMss, tx.lsoTcpHeaderOffset, tx.lsoIpVersion]).toEqual([
      NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE,
      1448,
      34,
      NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4,
    ]);
  });

  it.each([
    ['TCP', IPPROTO_TCP, 0, NdisCsumTx.TcpChecksum],
    ['UDP', IPPROTO_UDP, 200, NdisCsumTx.UdpChecksum],
    ['a 4-byte UDP datagram (a 46-byte frame)', IPPROTO_UDP, 4, NdisCsumTx.UdpChecksum],
  ] as const)(
    'a partial %s checksum becomes a checksum request at the L4 header',
    (_n, proto, payload, bit) => {
      const f = inetFrame({ proto, payload, csum: 'partial' }).frame;
      const rx = makeNbl(f);
      rx.csumRx = PARTIAL;
      const tx = makeNbl(new Uint8Array(1));
      carryOffloadInfo(rx, tx, f, 0, f.length);
      expect(tx.csumTx).toBe(NdisCsumTx.IsIPv4 | bit);
      expect(tx.csumTcpHeaderOffset).toBe(34);
      expect(tx.lsoMss).toBe(0);
    },
  );

  it('a receive with nothing to finish clears what the pooled send NBL asked last time', () => {
    const f = inetFrame({ proto: IPPROTO_UDP, payload: 10, csum: 'full' }).frame;
    const rx = makeNbl(f);
    rx.csumRx = NdisCsumRx.UdpChecksumSucceeded;
    const tx = makeNbl(new Uint8Array(1));
    tx.lsoMss = 1448;
    tx.csumTx = NdisCsumTx.IsIPv4 | NdisCsumTx.TcpChecksum;
    carryOffloadInfo(rx, tx, f, 0, f.length);
    expect([tx.lsoMss, tx.csumTx]).toEqual([0, 0]);
  });
});
