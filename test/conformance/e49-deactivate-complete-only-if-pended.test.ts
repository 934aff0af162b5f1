import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E49: ProtocolCmDeactivateVcComplete is invoked by NDIS only when NdisCmDeactivateVc returned PENDING.
describe.each(MODES)('E49 deactivation completion (%s)', (mode) => {
  it('is called once iff the request pended', async () => {
    const h = new Harness({ mode });
    const vc = h.activeCmVc();
    const p = h.ndis.cmDeactivateVcAsync(vc);
    h.settle();
    await expect(p).resolves.toBe(NDIS_STATUS_SUCCESS);
    expect(h.count('CM.cmDeactivateVcComplete')).toBe(mode === 'sync' ? 0 : 1);
    void NDIS_STATUS_PENDING;
  });
});
