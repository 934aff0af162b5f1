/**
 * NBL offload info <-> virtio_net_hdr_v1 (issue 13), as NetKVM maps them: the send path writes
 * the header in front of the frame from the NBL's LSO and checksum info, the receive path sets
 * the NBL's checksum and RSC info from the header the device wrote. Hot path: plain reads and
 * writes on the region's bytes, no allocation.
 */
import type { NetBufferList } from '../ndis/nbl';
import { NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6, NdisCsumRx, NdisCsumTx } from '../ndis/offload';
import {
  clearVnetHdr,
  setVnetU16,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VnetHdrOff,
  vnetU16,
} from '../virtio/vnet-hdr';

/** Where the checksum field sits from the L4 header's start (TCP: 16, UDP: 6). */
const kTcpCsumOffset = 16;
const kUdpCsumOffset = 6;

/**
 * Writes the virtio_net_hdr at `at` for the frame of `frameLen` bytes that follows it, from
 * `nbl`'s offload info. LSO: gso_type TCPV4/TCPV6 by IPVersion, gso_size = MSS, hdr_len = the
 * TCP header's end (TcpHeaderOffset + its data offset), NEEDS_CSUM from TcpHeaderOffset (a GSO
 * frame must carry it). A checksum request alone: NEEDS_CSUM at TCP 16 / UDP 6 from
 * TcpHeaderOffset. Nothing asked: a zero header. Sets LsoV2TransmitComplete's byte count (the
 * TCP payload) on an LSO NBL: the protocol reads it at completion.
 */
export function writeTxVnetHdr(bytes: Uint8Array, at: number, nbl: NetBufferList, frameLen: number): void {
  const mss = nbl.lsoMss;
  if (mss !== 0) {
    const tcp = nbl.lsoTcpHeaderOffset;
    const frame = at + 12;
    const hdrLen = tcp + ((bytes[frame + tcp + 12]! >>> 4) << 2);
    bytes[at + VnetHdrOff.flags] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    let gso =
      nbl.lsoIpVersion === NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6
        ? VIRTIO_NET_HDR_GSO_TCPV6
        : VIRTIO_NET_HDR_GSO_TCPV4;
    // CWR set on the first segment: the kernel must keep ECN right across segments (HOST_ECN).
    if ((bytes[frame + tcp + 13]! & 0x80) !== 0) gso |= VIRTIO_NET_HDR_GSO_ECN;
    bytes[at + VnetHdrOff.gsoType] = gso;
    setVnetU16(bytes, at, VnetHdrOff.hdrLen, hdrLen);
    setVnetU16(bytes, at, VnetHdrOff.gsoSize, mss);
    setVnetU16(bytes, at, VnetHdrOff.csumStart, tcp);
    setVnetU16(bytes, at, VnetHdrOff.csumOffset, kTcpCsumOffset);
    setVnetU16(bytes, at, VnetHdrOff.numBuffers, 0);
    nbl.lsoTransmitCompleteBytes = frameLen - hdrLen;
    return;
  }
  const t = nbl.csumTx;
  if ((t & (NdisCsumTx.TcpChecksum | NdisCsumTx.UdpChecksum)) !== 0) {
    bytes[at + VnetHdrOff.flags] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    bytes[at + VnetHdrOff.gsoType] = VIRTIO_NET_HDR_GSO_NONE;
    setVnetU16(bytes, at, VnetHdrOff.hdrLen, 0);
    setVnetU16(bytes, at, VnetHdrOff.gsoSize, 0);
    setVnetU16(bytes, at, VnetHdrOff.csumStart, nbl.csumTcpHeaderOffset);
    setVnetU16(
      bytes,
      at,
      VnetHdrOff.csumOffset,
      (t & NdisCsumTx.TcpChecksum) !== 0 ? kTcpCsumOffset : kUdpCsumOffset,
    );
    setVnetU16(bytes, at, VnetHdrOff.numBuffers, 0);
    return;
  }
  clearVnetHdr(bytes, at);
}

/**
 * Sets `nbl`'s receive offload info from the header at `at` (the frame of `frameLen` bytes
 * follows it). A GSO frame: CoalescedSegCount = ceil(payload / gso_size), RSC MSS = gso_size.
 * DATA_VALID: TCP/UDP and IP checksums succeeded. NEEDS_CSUM: known good (a local sender's frame)
 * but its checksum field is partial: succeeded, plus NdisCsumRx.ChecksumPartial. Every receive
 * field is written, so a reused NBL carries nothing stale.
 */
export function readRxVnetHdr(bytes: Uint8Array, at: number, nbl: NetBufferList, frameLen: number): void {
  const flags = bytes[at + VnetHdrOff.flags]!;
  const gso = bytes[at + VnetHdrOff.gsoType]! & ~VIRTIO_NET_HDR_GSO_ECN;
  let rx = 0;
  if ((flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM)) !== 0) {
    // Which L4: the header does not say on DATA_VALID; report TCP and UDP alike, as the
    // protocol checks only the bit of the protocol its packet carries.
    rx = NdisCsumRx.TcpChecksumSucceeded | NdisCsumRx.UdpChecksumSucceeded | NdisCsumRx.IpChecksumSucceeded;
    if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) rx |= NdisCsumRx.ChecksumPartial;
  }
  nbl.csumRx = rx;
  nbl.rscDupAckCount = 0;
  const size = vnetU16(bytes, at, VnetHdrOff.gsoSize);
  if (gso !== VIRTIO_NET_HDR_GSO_NONE && size !== 0) {
    let hdrLen = vnetU16(bytes, at, VnetHdrOff.hdrLen);
    // hdr_len is a hint (0: not given): then the TCP header's end from csum_start, if it is set.
    if (hdrLen === 0 && (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
      const tcp = vnetU16(bytes, at, VnetHdrOff.csumStart);
      if (tcp + 13 < frameLen) hdrLen = tcp + ((bytes[at + 12 + tcp + 12]! >>> 4) << 2);
    }
    const payload = frameLen > hdrLen ? frameLen - hdrLen : 0;
    nbl.rscCoalescedSegCount = Math.ceil(payload / size);
    nbl.rscMss = size;
  } else {
    nbl.rscCoalescedSegCount = 0;
    nbl.rscMss = 0;
  }
}
