import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_FAILURE, NDIS_STATUS_RESOURCES } from '../../lib/ndis';
import { Harness } from './harness';

// E6 [POLICY]: when the peer's ProtocolCoCreateVc fails after the miniport succeeded,
// MiniportCoDeleteVc is called before the failure is returned.
describe('E6 peer create failure rolls the miniport back', () => {
  it.each([[NDIS_STATUS_RESOURCES], [NDIS_STATUS_FAILURE]])('peer returns 0x%s', (failure) => {
    const h = new Harness({ mode: 'sync' });
    h.cm.createStatus = failure;
    const { status, vc } = h.createClientVc();
    expect(status).toBe(failure);
    expect(vc).toBeUndefined();
    expect(h.log).toEqual(['MP.coCreateVc', 'CM.coCreateVc', 'MP.coDeleteVc']);
    expect(h.ndis.vcCount).toBe(0);
  });
});
