import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness } from './harness';

// E10: a second NdisCmActivateVc while the first is pending yields NOT_ACCEPTED and no second
// MiniportCoActivateVc. (Needs a pending activation: async only.)
describe('E10 activation while an activation is pending', () => {
  it.each([['initial'], ['re-activation']])('%s', (kind) => {
    const h = new Harness({ mode: 'async' });
    const vc = h.createCmVc().vc!;
    if (kind === 're-activation') {
      h.ndis.cmActivateVc(vc, makeCallParameters());
      h.settle();
    }
    const before = h.count('MP.coActivateVc');
    expect(h.ndis.cmActivateVc(vc, makeCallParameters())).toBe(NDIS_STATUS_PENDING);
    expect(h.ndis.cmActivateVc(vc, makeCallParameters())).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.count('MP.coActivateVc')).toBe(before + 1);
    h.settle();
    expect(h.count('CM.cmActivateVcComplete')).toBe(before + 1);
  });
});
