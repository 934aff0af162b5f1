// The verifier's offload rule (issue 13): an NBL that asks for LSO (MSS != 0) or a transmit
// checksum on a VC whose miniport did not advertise it (NdisMSetMiniportAttributes with offload
// attributes), or whose protocol disabled it with OID_TCP_OFFLOAD_PARAMETERS, is
// ERR_CONDIS_OFFLOAD_NOT_ADVERTISED; plain NBLs and advertised offloads pass.
import { describe, expect, it } from 'vitest';
import { kMiniportOffloadFeatures, offloadFromFeatures } from '../../../lib/miniport';
import {
  ManualScheduler,
  makeCallParameters,
  makeNbl,
  NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED,
  NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4,
  NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6,
  NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE,
  Ndis,
  NdisCsumTx,
  type NdisVcHandle,
  type NetBufferList,
} from '../../../lib/ndis';

function rig(mode: 'throw' | 'report' = 'report') {
  const sched = new ManualScheduler();
  const ndis = new Ndis({ scheduler: sched, verifier: mode });
  const sent: NetBufferList[] = [];
  const mp = ndis.registerMiniport('mp', {
    coSendNetBufferLists: (_c, list) => void sent.push(list),
    returnNetBufferLists: () => {},
  });
  const cm = ndis.registerProtocol('cm', {
    coSendNetBufferListsComplete: () => {},
    coReceiveNetBufferLists: () => {},
  });
  const b = ndis.openAdapter(cm, mp);
  ndis.cmRegisterAddressFamily(b, 0x42, {});
  const vc = ndis.coCreateVc(b, null).vcHandle!;
  ndis.cmActivateVc(vc, makeCallParameters());
  return { ndis, mp, vc, sent };
}

function lso(vc: NdisVcHandle, v6 = false): NetBufferList {
  const nbl = makeNbl(new Uint8Array(2000));
  nbl.sourceHandle = vc;
  nbl.lsoType = NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE;
  nbl.lsoMss = 1448;
  nbl.lsoTcpHeaderOffset = 34;
  nbl.lsoIpVersion = v6 ? NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6 : NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4;
  return nbl;
}

function csum(vc: NdisVcHandle, bits: number): NetBufferList {
  const nbl = makeNbl(new Uint8Array(100));
  nbl.sourceHandle = vc;
  nbl.csumTx = bits;
  nbl.csumTcpHeaderOffset = 34;
  return nbl;
}

describe('verifier: offloads a miniport did not advertise', () => {
  it('flags an LSO NBL on a miniport without offload attributes (throw mode: at the call)', () => {
    const { ndis, vc } = rig('throw');
    expect(() => ndis.coSendNetBufferLists(vc, lso(vc), 0)).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_OFFLOAD_NOT_ADVERTISED' }),
    );
  });

  it('passes plain NBLs and advertised offloads; flags what is missing or disabled', () => {
    const { ndis, mp, vc, sent } = rig();
    ndis.coSendNetBufferLists(vc, csum(vc, 0), 0);
    expect(ndis.verifier.codes()).toEqual([]);
    expect(ndis.queryOffload(mp)).toBeUndefined();
    expect(ndis.setOffloadParameters(mp, {})).toBe(NDIS_STATUS_NOT_SUPPORTED);

    // A device that negotiated HOST_TSO4 and CSUM, not HOST_TSO6.
    ndis.setMiniportOffloadAttributes(mp, offloadFromFeatures(['CSUM', 'HOST_TSO4', 'GUEST_CSUM']));
    expect(ndis.queryOffload(mp, 'hardware')!.LsoV2.IPv4.MaxOffLoadSize).toBe(65535);
    ndis.coSendNetBufferLists(vc, lso(vc), 0);
    ndis.coSendNetBufferLists(vc, csum(vc, NdisCsumTx.IsIPv4 | NdisCsumTx.TcpChecksum), 0);
    expect(ndis.verifier.codes()).toEqual([]);
    ndis.coSendNetBufferLists(vc, lso(vc, true), 0);
    // virtio has no IP header checksum offload.
    ndis.coSendNetBufferLists(vc, csum(vc, NdisCsumTx.IsIPv4 | NdisCsumTx.IpHeaderChecksum), 0);
    expect(ndis.verifier.codes()).toEqual([
      'ERR_CONDIS_OFFLOAD_NOT_ADVERTISED',
      'ERR_CONDIS_OFFLOAD_NOT_ADVERTISED',
    ]);

    // The protocol turns LSOv2 IPv4 and the TCP transmit checksum off.
    expect(
      ndis.setOffloadParameters(mp, {
        LsoV2IPv4: NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED,
        TCPIPv4Checksum: NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED,
      }),
    ).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.queryOffload(mp, 'current')!.LsoV2.IPv4.MaxOffLoadSize).toBe(0);
    ndis.coSendNetBufferLists(vc, lso(vc), 0);
    ndis.coSendNetBufferLists(vc, csum(vc, NdisCsumTx.IsIPv4 | NdisCsumTx.TcpChecksum), 0);
    ndis.coSendNetBufferLists(vc, csum(vc, NdisCsumTx.IsIPv4 | NdisCsumTx.UdpChecksum), 0);
    expect(ndis.verifier.codes()).toHaveLength(4);
    // Report mode: the sends still reach the miniport.
    expect(sent).toHaveLength(8);
  });

  it('maps every offload feature to the NDIS_OFFLOAD record', () => {
    const o = offloadFromFeatures(kMiniportOffloadFeatures);
    expect(o.LsoV2.IPv6.MaxOffLoadSize).toBe(65535);
    expect(o.Checksum.IPv6Receive.TcpChecksum).toBe(true);
    expect(o.Checksum.IPv4Transmit.IpChecksum).toBe(false);
    expect(o.Rsc.IPv4.Enabled && o.Rsc.IPv6.Enabled).toBe(true);
    // HOST_TSO4 without CSUM: no LSO (a GSO frame must carry NEEDS_CSUM).
    expect(offloadFromFeatures(['HOST_TSO4']).LsoV2.IPv4.MaxOffLoadSize).toBe(0);
  });
});
