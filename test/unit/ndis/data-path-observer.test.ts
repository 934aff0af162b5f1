// NdisOptions.observer: a watch-only hook on the data path (what a monitoring NDIS lightweight
// filter sees), called once per NdisCoSendNetBufferLists and per
// NdisMCoIndicateReceiveNetBufferLists call, with the chain as passed, before NDIS acts on it.
import { describe, expect, it } from 'vitest';
import {
  chainNbls,
  ManualScheduler,
  type MiniportCoHandlers,
  makeCallParameters,
  makeNbl,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  Ndis,
  type NdisVcHandle,
  type NetBufferList,
  nblArray,
} from '../../../lib/ndis';

function nbls(n: number, source: NdisVcHandle | 0): NetBufferList {
  const list: NetBufferList[] = [];
  for (let i = 0; i < n; i++) {
    const nbl = makeNbl(new Uint8Array(64));
    nbl.sourceHandle = source;
    list.push(nbl);
  }
  return chainNbls(list)!;
}

describe('NdisOptions.observer (data-path watch hook)', () => {
  it('sees each send and each indication once per call, before NDIS checks or delivers them', () => {
    const seen: Array<[string, NdisVcHandle, number]> = [];
    const sched = new ManualScheduler();
    const ndis = new Ndis({
      scheduler: sched,
      trace: false,
      observer: {
        onSend: (vc, list) => seen.push(['send', vc, nblArray(list).length]),
        onIndicate: (vc, list) => seen.push(['indicate', vc, nblArray(list).length]),
      },
    });
    const sent: NetBufferList[] = [];
    const received: NetBufferList[] = [];
    const mpHandlers: MiniportCoHandlers = {
      coSendNetBufferLists: (_ctx, list) => void sent.push(...nblArray(list)),
      returnNetBufferLists: () => {},
    };
    const mp = ndis.registerMiniport('mp', mpHandlers);
    const cmProto = ndis.registerProtocol('cm', {
      coSendNetBufferListsComplete: () => {},
      coReceiveNetBufferLists: (_b, _vc, list) => void received.push(...nblArray(list)),
    });
    const cmBinding = ndis.openAdapter(cmProto, mp);
    ndis.cmRegisterAddressFamily(cmBinding, 0x42, {});
    // The CM's signalling VC (AF=NULL): it sends and receives on it once active.
    const vc = ndis.coCreateVc(cmBinding, null).vcHandle!;

    // Inactive: NDIS refuses the send (VC_NOT_ACTIVATED), but the observer saw it first.
    const refused = nbls(2, vc);
    ndis.coSendNetBufferLists(vc, refused, 0);
    sched.runAll();
    expect(refused.status).toBe(NDIS_STATUS_VC_NOT_ACTIVATED);
    expect(sent).toHaveLength(0);
    expect(seen).toEqual([['send', vc, 2]]);

    ndis.cmActivateVc(vc, makeCallParameters());
    ndis.coSendNetBufferLists(vc, nbls(3, vc), 0);
    expect(sent).toHaveLength(3);
    ndis.mCoIndicateReceiveNetBufferLists(vc, nbls(2, 0), 2, 0);
    expect(received).toHaveLength(2);
    expect(seen).toEqual([
      ['send', vc, 2],
      ['send', vc, 3],
      ['indicate', vc, 2],
    ]);
  });

  it('may watch one direction only', () => {
    const indications: number[] = [];
    const sched = new ManualScheduler();
    const ndis = new Ndis({
      scheduler: sched,
      observer: { onIndicate: (_vc, list) => void indications.push(nblArray(list).length) },
    });
    const mp = ndis.registerMiniport('mp', {
      coSendNetBufferLists: () => {},
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
    ndis.coSendNetBufferLists(vc, nbls(1, vc), 0);
    ndis.mCoIndicateReceiveNetBufferLists(vc, nbls(4, 0), 4, 0);
    sched.runAll();
    expect(indications).toEqual([4]);
  });
});
