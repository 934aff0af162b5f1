import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E42: NdisMCmDeactivateVc on an already-inactive VC returns NOT_ACCEPTED.
describe('E42 NdisMCmDeactivateVc on an inactive VC', () => {
  it('NOT_ACCEPTED before activation and after a deactivation', () => {
    const h = new Harness({ mode: 'sync', mcm: true });
    const vc = h.createCmVc().vc!;
    expect(h.ndis.mCmDeactivateVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    h.activeCmVc();
    const vc2 = h.activeCmVc();
    expect(h.ndis.mCmDeactivateVc(vc2)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.ndis.mCmDeactivateVc(vc2)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.count('CM.cmDeactivateVcComplete')).toBe(0); // final statuses, no callback (C3)
  });
});
