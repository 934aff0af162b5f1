import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E55: NdisMCmDeleteVc calls only the client's ProtocolCoDeleteVc.
describe('E55 NdisMCmDeleteVc', () => {
  it("calls the client's ProtocolCoDeleteVc only", () => {
    const h = new Harness({ mode: 'sync', mcm: true });
    const vc = h.createCmVc().vc!;
    h.log.length = 0;
    expect(h.ndis.mCmDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log).toEqual(['CL.coDeleteVc']);
    expect(h.ndis.vcInfo(vc)).toBeUndefined();
  });

  it('a client VC over an MCM is deleted with the MCM ProtocolCoDeleteVc only', () => {
    const h = new Harness({ mode: 'sync', mcm: true });
    const vc = h.createClientVc().vc!;
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log).toEqual(['CM.coDeleteVc']);
  });
});
