import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E4: NdisMCmCreateVc calls the client's ProtocolCoCreateVc synchronously and returns the
// client's failure code if the client refuses.
describe('E4 NdisMCmCreateVc', () => {
  it('calls the client ProtocolCoCreateVc before returning', () => {
    const h = new Harness({ mode: 'sync', mcm: true });
    const { status, vc } = h.createCmVc();
    expect(status).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log).toEqual(['CL.coCreateVc']);
    expect(h.info(vc!)).toMatchObject({ mcm: true, creator: 'cm', activation: 'INACTIVE' });
  });

  it("returns the client's failure and issues no handle", () => {
    const h = new Harness({ mode: 'sync', mcm: true });
    h.cl.createStatus = NDIS_STATUS_RESOURCES;
    const { status, vc } = h.createCmVc();
    expect(status).toBe(NDIS_STATUS_RESOURCES);
    expect(vc).toBeUndefined();
    expect(h.ndis.vcCount).toBe(0);
  });
});
