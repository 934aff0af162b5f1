import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES_AND_MCM } from './harness';

// E35: Ndis(M)CmDispatchIncomingCloseCall returns nothing and has no effect on the VC's
// activation state by itself; teardown proceeds only after the client's NdisClCloseCall.
describe.each(MODES_AND_MCM)('E35 incoming close (%s, mcm=%s)', (mode, mcm) => {
  it('leaves A alone until the client closes', () => {
    const h = new Harness({ mode, mcm });
    const vc = h.outgoingCall();
    const ret = h.cm.dispatchIncomingCloseCall(NDIS_STATUS_SUCCESS, h.cm_(vc));
    expect(ret).toBeUndefined();
    expect(h.entries('CL.clIncomingCloseCall')).toEqual(['CL.clIncomingCloseCall:SUCCESS']);
    h.settle();
    expect(h.info(vc)).toMatchObject({ activation: 'ACTIVE', call: 'CLOSE_INDICATED' });
    expect(h.count('MP.coDeactivateVc')).toBe(0);
    h.closeCall(vc);
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE' });
    if (!mcm) expect(h.count('MP.coDeactivateVc')).toBe(1);
  });
});
