import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_CLOSING, NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E40: a second NdisCmDeactivateVc while one is pending returns CLOSING and does not call
// MiniportCoDeactivateVc again.
describe.each(MODES)('E40 deactivation while a deactivation is pending (%s)', (mode) => {
  it('returns CLOSING', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    h.mp.indicate(h.mp_(vc), 1); // a held receive keeps the deactivation pending in both modes
    expect(h.ndis.cmDeactivateVc(h.cm_(vc))).toBe(NDIS_STATUS_PENDING);
    expect(h.ndis.cmDeactivateVc(h.cm_(vc))).toBe(NDIS_STATUS_CLOSING);
    h.settle();
    expect(h.count('MP.coDeactivateVc')).toBe(1);
    h.cl.returnReceives();
    h.settle();
    expect(h.entries('CM.cmDeactivateVcComplete')).toEqual(['CM.cmDeactivateVcComplete:SUCCESS']);
  });
});
