// lib/miniport/vnet-map.ts: NBL offload info -> virtio_net_hdr on send, header -> NBL info on
// receive, as NetKVM maps them (issue 13).
import { describe, expect, it } from 'vitest';
import { readRxVnetHdr, writeTxVnetHdr } from '../../lib/miniport/vnet-map';
import {
  makeNbl,
  NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6,
  NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE,
  NdisCsumRx,
  NdisCsumTx,
} from '../../lib/ndis';
import {
  setVnetU16,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VnetHdrOff,
  vnetU16,
} from '../../lib/virtio/vnet-hdr';
import { IPPROTO_TCP, IPPROTO_UDP, inetFrame } from '../helpers/inet';

/** 12 bytes of header (filled with junk, to see every byte written) then the frame. */
function buf(frame: Uint8Array): Uint8Array {
  const b = new Uint8Array(12 + frame.length).fill(0xee, 0, 12);
  b.set(frame, 12);
  return b;
}

describe('send: NBL info -> virtio_net_hdr', () => {
  it('LSO: GSO type by IPVersion, MSS, hdr_len from the TCP header, NEEDS_CSUM; complete byte count', () => {
    const f = inetFrame({ proto: IPPROTO_TCP, payload: 5000, csum: 'partial' });
    const b = buf(f.frame);
    const nbl = makeNbl(f.frame);
    nbl.lsoType = NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE;
    nbl.lsoMss = 1000;
    nbl.lsoTcpHeaderOffset = f.csumStart;
    writeTxVnetHdr(b, 0, nbl, f.frame.length);
    expect(b[VnetHdrOff.flags]).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
    expect(b[VnetHdrOff.gsoType]).toBe(VIRTIO_NET_HDR_GSO_TCPV4);
    expect(vnetU16(b, 0, VnetHdrOff.hdrLen)).toBe(f.hdrLen);
    expect(vnetU16(b, 0, VnetHdrOff.gsoSize)).toBe(1000);
    expect(vnetU16(b, 0, VnetHdrOff.csumStart)).toBe(f.csumStart);
    expect(vnetU16(b, 0, VnetHdrOff.csumOffset)).toBe(16);
    expect(vnetU16(b, 0, VnetHdrOff.numBuffers)).toBe(0);
    expect(nbl.lsoTransmitCompleteBytes).toBe(5000);
    nbl.lsoIpVersion = NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6;
    writeTxVnetHdr(b, 0, nbl, f.frame.length);
    expect(b[VnetHdrOff.gsoType]).toBe(VIRTIO_NET_HDR_GSO_TCPV6);
  });

  it('checksum alone: NEEDS_CSUM at TCP 16 / UDP 6; nothing asked: a zero header', () => {
    const f = inetFrame({ proto: IPPROTO_UDP, payload: 100, csum: 'partial' });
    const b = buf(f.frame);
    const nbl = makeNbl(f.frame);
    nbl.csumTx = NdisCsumTx.IsIPv4 | NdisCsumTx.UdpChecksum;
    nbl.csumTcpHeaderOffset = f.csumStart;
    writeTxVnetHdr(b, 0, nbl, f.frame.length);
    expect(b[VnetHdrOff.flags]).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
    expect(b[VnetHdrOff.gsoType]).toBe(0);
    expect(vnetU16(b, 0, VnetHdrOff.csumStart)).toBe(f.csumStart);
    expect(vnetU16(b, 0, VnetHdrOff.csumOffset)).toBe(6);
    nbl.csumTx = NdisCsumTx.IsIPv4 | NdisCsumTx.TcpChecksum;
    writeTxVnetHdr(b, 0, nbl, f.frame.length);
    expect(vnetU16(b, 0, VnetHdrOff.csumOffset)).toBe(16);
    nbl.csumTx = 0;
    writeTxVnetHdr(b, 0, nbl, f.frame.length);
    expect([...b.subarray(0, 12)]).toEqual(new Array(12).fill(0));
  });
});

describe('receive: virtio_net_hdr -> NBL info', () => {
  it('GSO: CoalescedSegCount = ceil(payload / gso_size), MSS; hdr_len 0 falls back to csum_start', () => {
    const f = inetFrame({ proto: IPPROTO_TCP, payload: 20000, csum: 'partial' });
    const b = buf(f.frame);
    b.fill(0, 0, 12);
    b[VnetHdrOff.flags] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    b[VnetHdrOff.gsoType] = VIRTIO_NET_HDR_GSO_TCPV4;
    setVnetU16(b, 0, VnetHdrOff.gsoSize, 1448);
    setVnetU16(b, 0, VnetHdrOff.csumStart, f.csumStart);
    setVnetU16(b, 0, VnetHdrOff.csumOffset, 16);
    const nbl = makeNbl(f.frame);
    for (const hdrLen of [f.hdrLen, 0]) {
      setVnetU16(b, 0, VnetHdrOff.hdrLen, hdrLen);
      readRxVnetHdr(b, 0, nbl, f.frame.length);
      expect(nbl.rscCoalescedSegCount).toBe(14);
      expect(nbl.rscMss).toBe(1448);
      expect(nbl.csumRx & NdisCsumRx.ChecksumPartial).toBe(NdisCsumRx.ChecksumPartial);
      expect(nbl.csumRx & NdisCsumRx.TcpChecksumSucceeded).toBe(NdisCsumRx.TcpChecksumSucceeded);
    }
  });

  it('DATA_VALID: succeeded, not partial; a plain header clears what a reused NBL carried', () => {
    const f = inetFrame({ proto: IPPROTO_TCP, payload: 100, csum: 'full' });
    const b = buf(f.frame);
    b.fill(0, 0, 12);
    b[VnetHdrOff.flags] = VIRTIO_NET_HDR_F_DATA_VALID;
    const nbl = makeNbl(f.frame);
    nbl.rscCoalescedSegCount = 9;
    nbl.rscMss = 9;
    readRxVnetHdr(b, 0, nbl, f.frame.length);
    expect(nbl.csumRx).toBe(
      NdisCsumRx.TcpChecksumSucceeded | NdisCsumRx.UdpChecksumSucceeded | NdisCsumRx.IpChecksumSucceeded,
    );
    expect(nbl.rscCoalescedSegCount).toBe(0);
    expect(nbl.rscMss).toBe(0);
    b[VnetHdrOff.flags] = 0;
    readRxVnetHdr(b, 0, nbl, f.frame.length);
    expect(nbl.csumRx).toBe(0);
  });
});
