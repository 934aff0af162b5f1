import { describe, expect, it } from 'vitest';
import {
  makeCallParameters,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { Harness } from './harness';

// E21: Ndis(M)CmMakeCallComplete(SUCCESS) on a VC whose activation has not completed successfully
// is a contract violation the core flags (the client then sees FAILURE, I1 holds).
describe.each([[false], [true]])('E21 make-call SUCCESS on an inactive VC (mcm=%s)', (mcm) => {
  it('throws ERR_CONDIS_E21', () => {
    const h = new Harness({ mode: 'async', mcm });
    const vc = h.createClientVc().vc!;
    h.cm.override.cmMakeCall = () => NDIS_STATUS_PENDING;
    expect(h.ndis.clMakeCall(vc, makeCallParameters())).toBe(NDIS_STATUS_PENDING);
    const complete = () =>
      mcm
        ? h.ndis.mCmMakeCallComplete(NDIS_STATUS_SUCCESS, h.cm_(vc))
        : h.ndis.cmMakeCallComplete(NDIS_STATUS_SUCCESS, h.cm_(vc));
    expect(complete).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E21' }));
  });

  it('report mode: the client gets FAILURE and the call is IDLE', () => {
    const h = new Harness({ mode: 'async', mcm, verifier: 'report' });
    const vc = h.createClientVc().vc!;
    h.cm.override.cmMakeCall = () => NDIS_STATUS_PENDING;
    h.ndis.clMakeCall(vc, makeCallParameters());
    if (mcm) h.ndis.mCmMakeCallComplete(NDIS_STATUS_SUCCESS, h.cm_(vc));
    else h.ndis.cmMakeCallComplete(NDIS_STATUS_SUCCESS, h.cm_(vc));
    h.settle();
    expect(h.entries('CL.clMakeCallComplete')).toEqual(['CL.clMakeCallComplete:FAILURE']);
    expect(h.info(vc).call).toBe('IDLE');
    expect(h.violations()).toEqual(['ERR_CONDIS_E21']);
    void NDIS_STATUS_FAILURE;
  });
});
