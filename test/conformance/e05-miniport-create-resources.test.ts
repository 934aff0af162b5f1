import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_RESOURCES } from '../../lib/ndis';
import { Harness } from './harness';

// E5: when MiniportCoCreateVc returns RESOURCES, NdisCoCreateVc returns RESOURCES and no handle.
describe('E5 MiniportCoCreateVc RESOURCES', () => {
  it('propagates RESOURCES, issues no handle, calls no peer', () => {
    const h = new Harness({ mode: 'sync' });
    h.mp.createStatus = NDIS_STATUS_RESOURCES;
    const { status, vc } = h.createClientVc();
    expect(status).toBe(NDIS_STATUS_RESOURCES);
    expect(vc).toBeUndefined();
    expect(h.log).toEqual(['MP.coCreateVc']);
    expect(h.ndis.vcCount).toBe(0);
  });
});
