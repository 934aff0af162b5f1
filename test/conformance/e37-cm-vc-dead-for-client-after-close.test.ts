import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_VC_NOT_ACTIVATED } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E37: after ProtocolClCloseCallComplete on a CM-created VC, any NdisCl*/NdisCo* call by the
// client with that handle is rejected.
describe.each(MODES)('E37 client calls on a closed CM-created VC (%s)', (mode) => {
  it('are rejected and flagged', () => {
    const h = new Harness({ mode, verifier: 'report' });
    const vc = h.incomingCall();
    const cl = h.cl_(vc);
    h.closeCall(cl);
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE' });
    expect(h.ndis.clCloseCall(cl)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.ndis.clModifyCallQoS(cl, makeCallParameters())).toBe(NDIS_STATUS_NOT_ACCEPTED);
    const [nbl] = h.send(cl, 1);
    h.settle();
    expect(nbl!.status).toBe(NDIS_STATUS_VC_NOT_ACTIVATED);
    expect(h.violations()).toEqual(['ERR_CONDIS_E37', 'ERR_CONDIS_E37', 'ERR_CONDIS_E37']);
    expect(h.count('CM.cmCloseCall')).toBe(1);
  });
});
