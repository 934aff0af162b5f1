import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E22: after a failed make-call completion the client's NdisCoDeleteVc succeeds (VC INACTIVE)
// and calls the CM's ProtocolCoDeleteVc.
describe.each(MODES)('E22 delete after a failed make-call (%s)', (mode) => {
  it('succeeds and notifies the CM', () => {
    const h = new Harness({ mode });
    const vc = h.createClientVc().vc!;
    h.mp.activateStatus = NDIS_STATUS_RESOURCES; // the CM's activation fails, so does the call
    const st = h.ndis.clMakeCall(vc, makeCallParameters());
    h.settle();
    if (mode === 'sync') expect(st).toBe(NDIS_STATUS_RESOURCES);
    else expect(h.entries('CL.clMakeCallComplete')).toEqual(['CL.clMakeCallComplete:RESOURCES']);
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE' });
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log).toEqual(['CM.coDeleteVc', 'MP.coDeleteVc']);
  });
});
