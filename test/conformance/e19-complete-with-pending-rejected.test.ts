import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness } from './harness';

// E19: NdisMCoActivateVcComplete / NdisMCoDeactivateVcComplete with status PENDING is rejected.
describe('E19 completion with PENDING', () => {
  it('NdisMCoActivateVcComplete(PENDING) throws ERR_CONDIS_E19 and changes nothing', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.createCmVc().vc!;
    h.mp.override.coActivateVc = () => NDIS_STATUS_PENDING;
    h.ndis.cmActivateVc(vc, makeCallParameters());
    expect(() => h.ndis.mCoActivateVcComplete(NDIS_STATUS_PENDING, h.mp_(vc))).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_E19' }),
    );
    expect(h.info(vc)).toMatchObject({ activation: 'ACTIVATING', activationPending: true });
  });

  it('NdisMCoDeactivateVcComplete(PENDING) is recorded in report mode and ignored', () => {
    const h = new Harness({ mode: 'async', verifier: 'report' });
    const vc = h.activeCmVc();
    h.mp.deactivateBehaviour = 'hang';
    h.ndis.cmDeactivateVc(vc);
    h.ndis.mCoDeactivateVcComplete(NDIS_STATUS_PENDING, h.mp_(vc));
    h.settle();
    expect(h.violations()).toEqual(['ERR_CONDIS_E19']);
    expect(h.info(vc).activation).toBe('DEACTIVATING');
  });
});
