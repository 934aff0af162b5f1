import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_NOT_ACCEPTED } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E51: MiniportCoDeactivateVc is called at most once per activation era, even if the VC was
// activated several times.
describe.each(MODES)('E51 one deactivation per era (%s)', (mode) => {
  it('three activations, one deactivation', () => {
    const h = new Harness({ mode });
    const vc = h.activeCmVc();
    h.ndis.cmActivateVc(vc, makeCallParameters());
    h.settle();
    h.ndis.cmActivateVc(vc, makeCallParameters());
    h.settle();
    h.ndis.cmDeactivateVc(vc);
    h.settle();
    expect(h.ndis.cmDeactivateVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.count('MP.coActivateVc')).toBe(3);
    expect(h.count('MP.coDeactivateVc')).toBe(1);
  });
});
