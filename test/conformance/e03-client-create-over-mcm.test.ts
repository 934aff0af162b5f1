import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E3: NdisCoCreateVc by a client over an MCM calls only the MCM's ProtocolCoCreateVc.
describe('E3 client NdisCoCreateVc over an MCM', () => {
  it('calls only the MCM ProtocolCoCreateVc, no MiniportCoCreateVc', () => {
    const h = new Harness({ mode: 'sync', mcm: true });
    const { status } = h.createClientVc();
    expect(status).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log).toEqual(['CM.coCreateVc']);
    expect(h.ndis.trace!.names()).not.toContain('MiniportCoCreateVc');
  });
});
