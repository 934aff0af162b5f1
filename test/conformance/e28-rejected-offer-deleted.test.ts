import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES_AND_MCM } from './harness';

// E28: a rejected offer results in CM deactivation and, if the CM deletes the VC, exactly one
// ProtocolCoDeleteVc at the client.
describe.each(MODES_AND_MCM)('E28 rejected offer (%s, mcm=%s)', (mode, mcm) => {
  it('deactivate then delete: one ProtocolCoDeleteVc at the client', () => {
    const h = new Harness({ mode, mcm });
    h.cl.offerAnswer = NDIS_STATUS_NOT_SUPPORTED;
    const vc = h.activeCmVc();
    h.cm.dispatchIncomingCall(vc, makeCallParameters());
    h.settle();
    expect(h.info(vc).call).toBe('IDLE');
    h.cm.deactivate(vc);
    h.settle();
    expect(h.info(vc).activation).toBe('INACTIVE');
    expect(h.cm.deleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.count('CL.coDeleteVc')).toBe(1);
    expect(h.count('CL.clCallConnected')).toBe(0);
  });
});
