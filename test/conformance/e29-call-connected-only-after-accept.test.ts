import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E29: ProtocolClCallConnected is delivered only after the client's acceptance and never after
// ProtocolClIncomingCloseCall for the same offer.
describe.each(MODES)('E29 CallConnected ordering (%s)', (mode) => {
  it('is refused while the offer is unanswered', () => {
    const h = new Harness({ mode, verifier: 'report' });
    const vc = h.activeCmVc();
    h.cl.override.clIncomingCall = () => NDIS_STATUS_PENDING;
    h.cm.dispatchIncomingCall(vc, makeCallParameters());
    h.cm.dispatchCallConnected(vc);
    expect(h.count('CL.clCallConnected')).toBe(0);
    expect(h.violations()).toEqual(['ERR_CONDIS_E29']);
  });

  it('is refused after an incoming close, delivered after acceptance', () => {
    const h = new Harness({ mode });
    h.cm.autoConnect = false;
    const vc = h.activeCmVc();
    h.cm.dispatchIncomingCall(vc, makeCallParameters());
    h.settle();
    expect(h.info(vc).call).toBe('ACCEPTED');
    h.cm.dispatchIncomingCloseCall(NDIS_STATUS_SUCCESS, vc);
    expect(() => h.cm.dispatchCallConnected(vc)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E29' }));
    expect(h.count('CL.clCallConnected')).toBe(0);

    const h2 = new Harness({ mode });
    h2.incomingCall();
    expect(h2.count('CL.clCallConnected')).toBe(1);
    const log = h2.log;
    expect(log.indexOf('CL.clIncomingCall')).toBeLessThan(log.indexOf('CL.clCallConnected'));
  });
});
