import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E9: NdisCmActivateVc on an INACTIVE VC calls MiniportCoActivateVc exactly once with the CM's
// parameter buffer.
describe.each(MODES)('E9 NdisCmActivateVc (%s)', (mode) => {
  it('calls MiniportCoActivateVc once with the very parameter object', () => {
    const h = new Harness({ mode });
    const vc = h.createCmVc().vc!;
    const params = makeCallParameters();
    const st = h.ndis.cmActivateVc(vc, params);
    expect(st).toBe(mode === 'sync' ? NDIS_STATUS_SUCCESS : NDIS_STATUS_PENDING);
    expect(h.count('MP.coActivateVc')).toBe(1);
    expect(h.mp.activations[0]).toBe(params);
    h.settle();
    expect(h.count('MP.coActivateVc')).toBe(1);
    expect(h.info(vc)).toMatchObject({ activation: 'ACTIVE', callParameters: params });
  });
});
