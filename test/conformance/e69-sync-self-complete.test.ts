import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E69: every async path is also exercised with the synchronous variant: the callee returns a
// final status, the caller self-completes, and NDIS does not complete again. In async mode each
// completion is delivered exactly once.
describe.each(MODES)('E69 self-completion vs one completion (%s)', (mode) => {
  it('counts completion handlers over a whole call', async () => {
    const h = new Harness({ mode });
    const vc = h.createClientVc().vc!;
    const make = h.ndis.clMakeCallAsync(vc, makeCallParameters());
    h.settle();
    await expect(make).resolves.toBe(NDIS_STATUS_SUCCESS);
    const qos = h.ndis.clModifyCallQoSAsync(vc, makeCallParameters());
    h.settle();
    await expect(qos).resolves.toBe(NDIS_STATUS_SUCCESS);
    const close = h.ndis.clCloseCallAsync(vc);
    h.settle();
    await expect(close).resolves.toBe(NDIS_STATUS_SUCCESS);
    const once = mode === 'sync' ? 0 : 1;
    expect(h.count('CL.clMakeCallComplete')).toBe(once);
    expect(h.count('CL.clModifyCallQoSComplete')).toBe(once);
    expect(h.count('CL.clCloseCallComplete')).toBe(once);
    expect(h.count('CM.cmActivateVcComplete')).toBe(2 * once);
    expect(h.count('CM.cmDeactivateVcComplete')).toBe(once);
    h.settle();
    expect(h.ndis.pendingDeliveries).toBe(0);
  });
});
