import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E20: NdisMCoActivateVcComplete without a preceding pended MiniportCoActivateVc is rejected;
// so is a second completion, and any completion of a request that did not pend.
describe('E20 completing a request that did not pend', () => {
  it('activation complete with no activation at all', () => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.activeCmVc();
    expect(() => h.ndis.mCoActivateVcComplete(NDIS_STATUS_SUCCESS, h.mp_(vc))).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_E20' }),
    );
  });

  it('the miniport completes inside its handler and also returns SUCCESS', () => {
    const h = new Harness({ mode: 'sync', verifier: 'report' });
    const vc = h.createCmVc().vc!;
    h.mp.override.coActivateVc = (ctx) => {
      h.ndis.mCoActivateVcComplete(NDIS_STATUS_SUCCESS, ctx as never);
      return NDIS_STATUS_SUCCESS;
    };
    expect(h.ndis.cmActivateVc(vc, makeCallParameters())).toBe(NDIS_STATUS_SUCCESS);
    h.settle();
    expect(h.violations()).toEqual(['ERR_CONDIS_E20']);
    expect(h.count('CM.cmActivateVcComplete')).toBe(0); // NDIS never completes twice
  });

  it('a deactivation completed twice', () => {
    const h = new Harness({ mode: 'async', verifier: 'report' });
    const vc = h.activeCmVc();
    h.mp.deactivateBehaviour = 'hang';
    expect(h.ndis.cmDeactivateVc(vc)).toBe(NDIS_STATUS_PENDING);
    h.ndis.mCoDeactivateVcComplete(NDIS_STATUS_SUCCESS, h.mp_(vc));
    h.ndis.mCoDeactivateVcComplete(NDIS_STATUS_SUCCESS, h.mp_(vc));
    h.settle();
    expect(h.violations()).toEqual(['ERR_CONDIS_E20']);
    expect(h.count('CM.cmDeactivateVcComplete')).toBe(1);
  });

  it('a make-call completion when ProtocolCmMakeCall returned a final status', () => {
    const h = new Harness({ mode: 'sync', verifier: 'report' });
    const vc = h.createClientVc().vc!;
    h.ndis.clMakeCall(vc, makeCallParameters());
    h.ndis.cmMakeCallComplete(NDIS_STATUS_SUCCESS, h.cm_(vc));
    h.settle();
    expect(h.violations()).toEqual(['ERR_CONDIS_E20']);
    expect(h.count('CL.clMakeCallComplete')).toBe(0);
  });
});
