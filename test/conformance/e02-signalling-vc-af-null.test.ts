import { describe, expect, it } from 'vitest';
import {
  chainNbls,
  makeCallParameters,
  makeNbl,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E2: NdisCoCreateVc from a CM with a NULL AF handle calls MiniportCoCreateVc only. The signalling
// VC is an ordinary VC: activated, sent on and received on by the CM (spec §3.7).
describe.each(MODES)('E2 CM signalling VC (AF=NULL) (%s)', (mode) => {
  it('creates with MiniportCoCreateVc only, then carries the CM signalling traffic', () => {
    const h = new Harness({ mode });
    const r = h.ndis.coCreateVc(h.cmBinding!, null, 'sig');
    expect(r.status).toBe(NDIS_STATUS_SUCCESS);
    const vc = r.vcHandle!;
    expect(h.log).toEqual(['MP.coCreateVc']);
    expect(h.info(vc)).toMatchObject({ signalling: true, creator: 'cm' });

    const st = h.ndis.cmActivateVc(vc, makeCallParameters());
    expect(st).toBe(mode === 'sync' ? NDIS_STATUS_SUCCESS : NDIS_STATUS_PENDING);
    h.settle();
    expect(h.info(vc).activation).toBe('ACTIVE');

    const nbl = makeNbl(new Uint8Array([1, 2]));
    nbl.sourceHandle = vc;
    h.ndis.coSendNetBufferLists(vc, chainNbls([nbl])!, 0);
    expect(h.mp.sent).toEqual([nbl]);
    h.mp.completeSends();
    h.settle();
    expect(h.cm.sendCompletions).toEqual([nbl]);
    expect(h.cl.completed).toEqual([]);

    h.mp.indicate(h.mp_(vc), 1, NDIS_RECEIVE_FLAGS_RESOURCES);
    expect(h.cm.receives.length).toBe(1);
    expect(h.cl.received.length).toBe(0);

    h.ndis.cmDeactivateVc(vc);
    h.settle();
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log.filter((e) => e.endsWith('coDeleteVc'))).toEqual(['MP.coDeleteVc']);
    expect(h.violations()).toEqual([]);
  });
});
