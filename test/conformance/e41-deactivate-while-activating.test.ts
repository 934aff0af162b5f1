import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness } from './harness';

// E41: NdisCmDeactivateVc while an activation is pending returns NOT_ACCEPTED and does not call
// the miniport (a pending activation needs async).
describe('E41 deactivation while an activation is pending', () => {
  it.each([['initial'], ['re-activation']])('%s activation pending', (kind) => {
    const h = new Harness({ mode: 'async' });
    const vc = kind === 'initial' ? h.createCmVc().vc! : h.activeCmVc();
    expect(h.ndis.cmActivateVc(vc, makeCallParameters())).toBe(NDIS_STATUS_PENDING);
    expect(h.ndis.cmDeactivateVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.count('MP.coDeactivateVc')).toBe(0);
    h.settle();
    expect(h.info(vc).activation).toBe('ACTIVE');
  });

  it('a never-activated VC (U7): NOT_ACCEPTED, miniport not called', () => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.createCmVc().vc!;
    expect(h.ndis.cmDeactivateVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.count('MP.coDeactivateVc')).toBe(0);
  });
});
