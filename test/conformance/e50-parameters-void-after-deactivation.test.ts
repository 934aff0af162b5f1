import { describe, expect, it } from 'vitest';
import { makeCallParameters } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E50: after deactivation completes, re-activation must carry a fresh parameter set; the old
// CallParameters object is not retained by the core (and reusing it is flagged).
describe.each(MODES)('E50 parameters are void after deactivation (%s)', (mode) => {
  it('drops the old set and flags its reuse', () => {
    const h = new Harness({ mode, verifier: 'report' });
    const old = makeCallParameters();
    const vc = h.activeCmVc(old);
    expect(h.info(vc).callParameters).toBe(old);
    h.ndis.cmDeactivateVc(vc);
    h.settle();
    expect(h.info(vc).callParameters).toBeUndefined();
    const fresh = makeCallParameters();
    h.ndis.cmActivateVc(vc, fresh);
    h.settle();
    expect(h.mp.activations.at(-1)).toBe(fresh);
    expect(h.violations()).toEqual([]);
    h.ndis.cmDeactivateVc(vc);
    h.settle();
    h.ndis.cmActivateVc(vc, fresh);
    expect(h.violations()).toEqual(['ERR_CONDIS_E50']);
  });
});
