// lib/ndis/offload.ts: NBL offload info as plain fields (reset and copied without allocation),
// and OID_TCP_OFFLOAD_PARAMETERS applied to a miniport's current configuration within its hardware.
import { describe, expect, it } from 'vitest';
import {
  applyOffloadParameters,
  clearNblOffloadInfo,
  cloneNdisOffload,
  copyNblOffloadInfo,
  emptyNdisOffload,
  makeNbl,
  NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED,
  NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED,
  NDIS_OFFLOAD_PARAMETERS_NO_CHANGE,
  NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED,
  NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED,
  NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6,
  NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE,
  NdisCsumRx,
  NdisCsumTx,
} from '../../../lib/ndis';

describe('NBL offload info', () => {
  it('starts cleared, copies every field, and clears again on reuse', () => {
    const a = makeNbl(new Uint8Array(64));
    const b = makeNbl(new Uint8Array(64));
    expect(a.lsoMss).toBe(0);
    a.lsoType = NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE;
    a.lsoMss = 1448;
    a.lsoTcpHeaderOffset = 34;
    a.lsoIpVersion = NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6;
    a.lsoTransmitCompleteBytes = 20000;
    a.csumTx = NdisCsumTx.IsIPv4 | NdisCsumTx.TcpChecksum;
    a.csumTcpHeaderOffset = 34;
    a.csumRx = NdisCsumRx.TcpChecksumSucceeded;
    a.rscCoalescedSegCount = 14;
    a.rscDupAckCount = 1;
    a.rscMss = 1448;
    copyNblOffloadInfo(a, b);
    const fields = [
      'lsoType',
      'lsoMss',
      'lsoTcpHeaderOffset',
      'lsoIpVersion',
      'lsoTransmitCompleteBytes',
      'csumTx',
      'csumTcpHeaderOffset',
      'csumRx',
      'rscCoalescedSegCount',
      'rscDupAckCount',
      'rscMss',
    ] as const;
    for (const f of fields) expect(b[f], f).toBe(a[f]);
    clearNblOffloadInfo(b);
    for (const f of fields) expect(b[f], f).toBe(0);
  });
});

describe('NDIS_OFFLOAD_PARAMETERS', () => {
  function hw() {
    const o = emptyNdisOffload();
    o.Checksum.IPv4Transmit = { IpChecksum: true, TcpChecksum: true, UdpChecksum: true };
    o.Checksum.IPv4Receive = { IpChecksum: true, TcpChecksum: true, UdpChecksum: true };
    o.LsoV2.IPv4 = { MaxOffLoadSize: 65535, MinSegmentCount: 2 };
    return o;
  }

  it('disables and re-enables LSOv2, never beyond the hardware', () => {
    const h = hw();
    const cur = cloneNdisOffload(h);
    applyOffloadParameters(cur, h, { LsoV2IPv4: NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED });
    expect(cur.LsoV2.IPv4.MaxOffLoadSize).toBe(0);
    expect(h.LsoV2.IPv4.MaxOffLoadSize).toBe(65535);
    applyOffloadParameters(cur, h, {
      LsoV2IPv4: NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED,
      LsoV2IPv6: NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED,
    });
    expect(cur.LsoV2.IPv4.MaxOffLoadSize).toBe(65535);
    expect(cur.LsoV2.IPv6.MaxOffLoadSize).toBe(0);
  });

  it('sets checksum directions per protocol; NO_CHANGE leaves them', () => {
    const h = hw();
    const cur = cloneNdisOffload(h);
    applyOffloadParameters(cur, h, { TCPIPv4Checksum: NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED });
    expect(cur.Checksum.IPv4Transmit.TcpChecksum).toBe(false);
    expect(cur.Checksum.IPv4Receive.TcpChecksum).toBe(true);
    expect(cur.Checksum.IPv4Transmit.UdpChecksum).toBe(true);
    applyOffloadParameters(cur, h, { TCPIPv4Checksum: NDIS_OFFLOAD_PARAMETERS_NO_CHANGE });
    expect(cur.Checksum.IPv4Transmit.TcpChecksum).toBe(false);
    applyOffloadParameters(cur, h, { TCPIPv6Checksum: NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED });
    expect(cur.Checksum.IPv6Transmit.TcpChecksum).toBe(false);
  });
});
