/**
 * The reference miniport's task offloads (issue 13): its NDIS_OFFLOAD, derived from the virtio-net
 * features the device negotiated, the way NetKVM derives its offload attributes from the host's
 * features before NdisMSetMiniportAttributes(NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES).
 *
 *   CSUM        -> transmit TCP/UDP checksum, IPv4 and IPv6 (csum_start/csum_offset)
 *   GUEST_CSUM  -> receive TCP/UDP checksum results (DATA_VALID / NEEDS_CSUM)
 *   HOST_TSO4/6 -> LsoV2 IPv4/IPv6 (gso_type TCPV4/TCPV6 with gso_size = MSS)
 *   GUEST_TSO4/6-> RSC IPv4/IPv6 (the device hands over coalesced frames up to 64 KiB)
 *
 * The IPv4 header checksum is never offered: virtio-net has no such offload (NetKVM computes it
 * in software), so a protocol must fill it itself.
 */
import { emptyNdisOffload, type NdisOffload } from '../ndis/offload';
import { kGsoMaxPacket, type VirtioNetFeature } from '../virtio/vnet-hdr';

/**
 * The virtio-net features a device should be opened with (`features` option, with `vnetHdr: true`)
 * for the miniport's `offloads: true`: everything the NDIS offloads map to.
 */
export const kMiniportOffloadFeatures: readonly VirtioNetFeature[] = [
  'CSUM',
  'GUEST_CSUM',
  'HOST_TSO4',
  'HOST_TSO6',
  'GUEST_TSO4',
  'GUEST_TSO6',
  'HOST_ECN',
  'GUEST_ECN',
];

/** NDIS_OFFLOAD from the negotiated virtio-net features (see the table at the top of this file). */
export function offloadFromFeatures(negotiated: readonly VirtioNetFeature[]): NdisOffload {
  const has = (f: VirtioNetFeature): boolean => negotiated.includes(f);
  const o = emptyNdisOffload();
  if (has('CSUM')) {
    for (const side of [o.Checksum.IPv4Transmit, o.Checksum.IPv6Transmit]) {
      side.TcpChecksum = true;
      side.UdpChecksum = true;
    }
  }
  if (has('GUEST_CSUM')) {
    for (const side of [o.Checksum.IPv4Receive, o.Checksum.IPv6Receive]) {
      side.TcpChecksum = true;
      side.UdpChecksum = true;
    }
  }
  // LSO needs the transmit checksum too: a GSO frame must carry NEEDS_CSUM (virtio 5.1.6.2).
  if (has('HOST_TSO4') && has('CSUM')) o.LsoV2.IPv4 = { MaxOffLoadSize: kGsoMaxPacket, MinSegmentCount: 2 };
  if (has('HOST_TSO6') && has('CSUM')) o.LsoV2.IPv6 = { MaxOffLoadSize: kGsoMaxPacket, MinSegmentCount: 2 };
  o.Rsc.IPv4.Enabled = has('GUEST_TSO4');
  o.Rsc.IPv6.Enabled = has('GUEST_TSO6');
  return o;
}
