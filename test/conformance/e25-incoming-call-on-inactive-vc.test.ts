import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_VC_NOT_ACTIVATED } from '../../lib/ndis';
import { Harness } from './harness';

// E25: Ndis(M)CmDispatchIncomingCall on a VC that is not ACTIVE is flagged as a contract violation.
describe.each([[false], [true]])('E25 incoming call on an inactive VC (mcm=%s)', (mcm) => {
  it('throws ERR_CONDIS_E25; report mode refuses without calling the client', () => {
    const h = new Harness({ mode: 'sync', mcm });
    const vc = h.createCmVc().vc!;
    expect(() => h.cm.dispatchIncomingCall(vc, makeCallParameters())).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_E25' }),
    );
    h.ndis.verifier.mode = 'report';
    expect(h.cm.dispatchIncomingCall(vc, makeCallParameters())).toBe(NDIS_STATUS_VC_NOT_ACTIVATED);
    expect(h.count('CL.clIncomingCall')).toBe(0);
    expect(h.info(vc).call).toBe('IDLE');
  });
});
