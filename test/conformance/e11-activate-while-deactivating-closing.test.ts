import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_CLOSING, NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E11: NdisCmActivateVc while a deactivation is pending yields CLOSING and no miniport call.
describe.each(MODES)('E11 activation during a pending deactivation (%s)', (mode) => {
  it('returns CLOSING without calling MiniportCoActivateVc', () => {
    const h = new Harness({ mode });
    const vc = h.activeCmVc();
    h.mp.deactivateBehaviour = 'hang';
    expect(h.ndis.cmDeactivateVc(vc)).toBe(NDIS_STATUS_PENDING);
    const before = h.count('MP.coActivateVc');
    expect(h.ndis.cmActivateVc(vc, makeCallParameters())).toBe(NDIS_STATUS_CLOSING);
    expect(h.count('MP.coActivateVc')).toBe(before);
    expect(h.info(vc).activation).toBe('DEACTIVATING');
  });
});
