import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_CLOSING } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E53: NdisCoDeleteVc during deactivation returns CLOSING and calls no handler.
describe.each(MODES)('E53 delete while deactivating (%s)', (mode) => {
  it('returns CLOSING', () => {
    const h = new Harness({ mode });
    const vc = h.activeCmVc();
    h.mp.deactivateBehaviour = 'hang';
    h.ndis.cmDeactivateVc(vc);
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_CLOSING);
    expect(h.log).toEqual([]);
    expect(h.info(vc).activation).toBe('DEACTIVATING');
  });
});
