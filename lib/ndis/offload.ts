/**
 * NDIS task offloads (issue 13): the per-NBL out-of-band info a protocol and a miniport exchange
 * (NET_BUFFER_LIST_INFO's TcpLargeSendNetBufferListInfo, TcpIpChecksumNetBufferListInfo,
 * TcpRecvSegCoalesceInfo), the miniport's capability record (NDIS_OFFLOAD) and a protocol's choice
 * (NDIS_OFFLOAD_PARAMETERS, the value of OID_TCP_OFFLOAD_PARAMETERS).
 *
 * In NDIS the per-NBL info are unions packed into pointer-sized slots. Here each field is a plain
 * number on the NetBufferList itself (lib/ndis/nbl.ts), so the hot path allocates nothing: a pooled
 * NBL is reset with {@link clearNblOffloadInfo} when it is reused. Field names follow the WDK's,
 * in camelCase, prefixed with the slot they belong to (lso*, csum*, rsc*).
 */
import type { NetBufferList } from './nbl';

/** NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO.Transmit.Type. */
export const NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE = 0;
export const NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE = 1;
/** LsoV2Transmit.IPVersion. */
export const NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4 = 0;
export const NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6 = 1;

/**
 * NDIS_OFFLOAD_PARAMETERS values (OID_TCP_OFFLOAD_PARAMETERS) for the checksum members
 * (IPv4Checksum, TCPIPv4Checksum, UDPIPv4Checksum, TCPIPv6Checksum, UDPIPv6Checksum).
 */
export const NDIS_OFFLOAD_PARAMETERS_NO_CHANGE = 0;
export const NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED = 1;
export const NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED = 2;
export const NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED = 3;
export const NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED = 4;
/** NDIS_OFFLOAD_PARAMETERS values for LsoV2IPv4 / LsoV2IPv6 (and RscIPv4 / RscIPv6). */
export const NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED = 1;
export const NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED = 2;
export const NDIS_OFFLOAD_PARAMETERS_RSC_DISABLED = 1;
export const NDIS_OFFLOAD_PARAMETERS_RSC_ENABLED = 2;

/** NDIS_TCP_IP_CHECKSUM_OFFLOAD's per-IP-version record (transmit or receive side). */
export interface NdisChecksumOffloadSide {
  IpChecksum: boolean;
  TcpChecksum: boolean;
  UdpChecksum: boolean;
}

/** NDIS_TCP_LARGE_SEND_OFFLOAD_V2's per-IP-version record; MaxOffLoadSize 0 = not offered. */
export interface NdisLsoV2Side {
  MaxOffLoadSize: number;
  MinSegmentCount: number;
}

/** NDIS_OFFLOAD: what a miniport can do (NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES.DefaultOffloadConfiguration). */
export interface NdisOffload {
  Checksum: {
    IPv4Transmit: NdisChecksumOffloadSide;
    IPv4Receive: NdisChecksumOffloadSide;
    IPv6Transmit: Omit<NdisChecksumOffloadSide, 'IpChecksum'>;
    IPv6Receive: Omit<NdisChecksumOffloadSide, 'IpChecksum'>;
  };
  LsoV2: { IPv4: NdisLsoV2Side; IPv6: NdisLsoV2Side };
  /** NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD. */
  Rsc: { IPv4: { Enabled: boolean }; IPv6: { Enabled: boolean } };
}

/** NDIS_OFFLOAD_PARAMETERS: a protocol's choice (OID_TCP_OFFLOAD_PARAMETERS set); 0 = NO_CHANGE. */
export interface NdisOffloadParameters {
  IPv4Checksum?: number;
  TCPIPv4Checksum?: number;
  UDPIPv4Checksum?: number;
  TCPIPv6Checksum?: number;
  UDPIPv6Checksum?: number;
  LsoV2IPv4?: number;
  LsoV2IPv6?: number;
  RscIPv4?: number;
  RscIPv6?: number;
}

const noCsum = (): NdisChecksumOffloadSide => ({ IpChecksum: false, TcpChecksum: false, UdpChecksum: false });

/** An NDIS_OFFLOAD with nothing offered (a miniport without offloads; today's default). */
export function emptyNdisOffload(): NdisOffload {
  return {
    Checksum: {
      IPv4Transmit: noCsum(),
      IPv4Receive: noCsum(),
      IPv6Transmit: noCsum(),
      IPv6Receive: noCsum(),
    },
    LsoV2: {
      IPv4: { MaxOffLoadSize: 0, MinSegmentCount: 0 },
      IPv6: { MaxOffLoadSize: 0, MinSegmentCount: 0 },
    },
    Rsc: { IPv4: { Enabled: false }, IPv6: { Enabled: false } },
  };
}

/** A deep copy (the current configuration starts as the hardware capabilities). */
export function cloneNdisOffload(o: NdisOffload): NdisOffload {
  return {
    Checksum: {
      IPv4Transmit: { ...o.Checksum.IPv4Transmit },
      IPv4Receive: { ...o.Checksum.IPv4Receive },
      IPv6Transmit: { ...o.Checksum.IPv6Transmit },
      IPv6Receive: { ...o.Checksum.IPv6Receive },
    },
    LsoV2: { IPv4: { ...o.LsoV2.IPv4 }, IPv6: { ...o.LsoV2.IPv6 } },
    Rsc: { IPv4: { ...o.Rsc.IPv4 }, IPv6: { ...o.Rsc.IPv6 } },
  };
}

function applyCsum(
  p: number | undefined,
  hw: { tx: boolean; rx: boolean },
  set: (tx: boolean, rx: boolean) => void,
  get: () => { tx: boolean; rx: boolean },
): void {
  if (p === undefined || p === NDIS_OFFLOAD_PARAMETERS_NO_CHANGE) return;
  const cur = get();
  let tx = cur.tx;
  let rx = cur.rx;
  if (p === NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED) [tx, rx] = [false, false];
  else if (p === NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED) [tx, rx] = [true, false];
  else if (p === NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED) [tx, rx] = [false, true];
  else if (p === NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED) [tx, rx] = [true, true];
  // A protocol can only turn on what the hardware has (NDIS fails the OID otherwise; we clamp).
  set(tx && hw.tx, rx && hw.rx);
}

/**
 * Applies a protocol's NDIS_OFFLOAD_PARAMETERS to `current` (in place), bounded by `hardware`:
 * what OID_TCP_OFFLOAD_PARAMETERS does to the miniport's current configuration.
 */
export function applyOffloadParameters(
  current: NdisOffload,
  hardware: NdisOffload,
  p: NdisOffloadParameters,
): void {
  const c = current.Checksum;
  const h = hardware.Checksum;
  applyCsum(
    p.IPv4Checksum,
    { tx: h.IPv4Transmit.IpChecksum, rx: h.IPv4Receive.IpChecksum },
    (tx, rx) => {
      c.IPv4Transmit.IpChecksum = tx;
      c.IPv4Receive.IpChecksum = rx;
    },
    () => ({ tx: c.IPv4Transmit.IpChecksum, rx: c.IPv4Receive.IpChecksum }),
  );
  for (const [param, l4, tx4, rx4, txH, rxH] of [
    [p.TCPIPv4Checksum, 'TcpChecksum', c.IPv4Transmit, c.IPv4Receive, h.IPv4Transmit, h.IPv4Receive],
    [p.UDPIPv4Checksum, 'UdpChecksum', c.IPv4Transmit, c.IPv4Receive, h.IPv4Transmit, h.IPv4Receive],
    [p.TCPIPv6Checksum, 'TcpChecksum', c.IPv6Transmit, c.IPv6Receive, h.IPv6Transmit, h.IPv6Receive],
    [p.UDPIPv6Checksum, 'UdpChecksum', c.IPv6Transmit, c.IPv6Receive, h.IPv6Transmit, h.IPv6Receive],
  ] as const) {
    applyCsum(
      param,
      { tx: txH[l4], rx: rxH[l4] },
      (tx, rx) => {
        tx4[l4] = tx;
        rx4[l4] = rx;
      },
      () => ({ tx: tx4[l4], rx: rx4[l4] }),
    );
  }
  const lso = (v: number | undefined, cur: NdisLsoV2Side, hw: NdisLsoV2Side): void => {
    if (v === NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED) {
      cur.MaxOffLoadSize = 0;
      cur.MinSegmentCount = 0;
    } else if (v === NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED) {
      cur.MaxOffLoadSize = hw.MaxOffLoadSize;
      cur.MinSegmentCount = hw.MinSegmentCount;
    }
  };
  lso(p.LsoV2IPv4, current.LsoV2.IPv4, hardware.LsoV2.IPv4);
  lso(p.LsoV2IPv6, current.LsoV2.IPv6, hardware.LsoV2.IPv6);
  const rsc = (v: number | undefined, cur: { Enabled: boolean }, hw: { Enabled: boolean }): void => {
    if (v === NDIS_OFFLOAD_PARAMETERS_RSC_DISABLED) cur.Enabled = false;
    else if (v === NDIS_OFFLOAD_PARAMETERS_RSC_ENABLED) cur.Enabled = hw.Enabled;
  };
  rsc(p.RscIPv4, current.Rsc.IPv4, hardware.Rsc.IPv4);
  rsc(p.RscIPv6, current.Rsc.IPv6, hardware.Rsc.IPv6);
}

/** Resets every offload field of `nbl` (a pooled NBL on reuse: no offload asked, none reported). */
export function clearNblOffloadInfo(nbl: NetBufferList): void {
  nbl.lsoType = 0;
  nbl.lsoMss = 0;
  nbl.lsoTcpHeaderOffset = 0;
  nbl.lsoIpVersion = 0;
  nbl.lsoTransmitCompleteBytes = 0;
  nbl.csumTx = 0;
  nbl.csumTcpHeaderOffset = 0;
  nbl.csumRx = 0;
  nbl.rscCoalescedSegCount = 0;
  nbl.rscDupAckCount = 0;
  nbl.rscMss = 0;
}

/**
 * Copies every offload field from `from` to `to` (a bridge forwarding a received NBL as a send
 * keeps its LSO/checksum/RSC info). Allocates nothing.
 */
export function copyNblOffloadInfo(from: NetBufferList, to: NetBufferList): void {
  to.lsoType = from.lsoType;
  to.lsoMss = from.lsoMss;
  to.lsoTcpHeaderOffset = from.lsoTcpHeaderOffset;
  to.lsoIpVersion = from.lsoIpVersion;
  to.lsoTransmitCompleteBytes = from.lsoTransmitCompleteBytes;
  to.csumTx = from.csumTx;
  to.csumTcpHeaderOffset = from.csumTcpHeaderOffset;
  to.csumRx = from.csumRx;
  to.rscCoalescedSegCount = from.rscCoalescedSegCount;
  to.rscDupAckCount = from.rscDupAckCount;
  to.rscMss = from.rscMss;
}

/** TcpIpChecksumNetBufferListInfo.Transmit bits (NetBufferList.csumTx). */
export const NdisCsumTx = {
  IsIPv4: 1,
  IsIPv6: 2,
  TcpChecksum: 4,
  UdpChecksum: 8,
  IpHeaderChecksum: 16,
} as const;

/** TcpIpChecksumNetBufferListInfo.Receive bits (NetBufferList.csumRx). */
export const NdisCsumRx = {
  TcpChecksumFailed: 1,
  UdpChecksumFailed: 2,
  IpChecksumFailed: 4,
  TcpChecksumSucceeded: 8,
  UdpChecksumSucceeded: 16,
  IpChecksumSucceeded: 32,
  Loopback: 64,
  /**
   * Not an NDIS bit: the packet is known good but its checksum field is partial (virtio's
   * NEEDS_CSUM on receive: a packet from a local sender that never had its checksum filled in).
   * A bridge forwarding it must ask for a transmit checksum; NDIS has TcpChecksumValueInvalid
   * for the closest meaning, kept separate here so a consumer can tell.
   */
  ChecksumPartial: 128,
} as const;
