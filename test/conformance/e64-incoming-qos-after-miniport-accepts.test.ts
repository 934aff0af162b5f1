import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_INVALID_DATA } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E64: ProtocolClIncomingCallQoSChange is delivered only after the miniport accepted the new
// parameters.
describe.each(MODES)('E64 remote QoS change (%s)', (mode) => {
  it('delivered after a successful re-activation with those parameters', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    const q = makeCallParameters();
    h.ndis.cmActivateVc(h.cm_(vc), q);
    h.settle();
    h.ndis.cmDispatchIncomingCallQoSChange(h.cm_(vc), q);
    expect(h.count('CL.clIncomingCallQoSChange')).toBe(1);
  });

  it('refused before the activation, or after the miniport refused it', () => {
    const h = new Harness({ mode, verifier: 'report' });
    const vc = h.outgoingCall();
    const q = makeCallParameters();
    h.ndis.cmDispatchIncomingCallQoSChange(h.cm_(vc), q);
    h.mp.activateStatus = NDIS_STATUS_INVALID_DATA;
    h.ndis.cmActivateVc(h.cm_(vc), q);
    h.settle();
    h.ndis.cmDispatchIncomingCallQoSChange(h.cm_(vc), q);
    expect(h.count('CL.clIncomingCallQoSChange')).toBe(0);
    expect(h.violations()).toEqual(['ERR_CONDIS_E64', 'ERR_CONDIS_E64']);
  });
});
