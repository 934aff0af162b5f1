import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E57 [POLICY]: a peer ProtocolCoDeleteVc returning NOT_ACCEPTED makes NdisCoDeleteVc fail with
// NOT_ACCEPTED and leaves the VC intact (miniport context not freed).
describe('E57 peer refuses the delete', () => {
  it('the VC survives and can be deleted later', () => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.createClientVc().vc!;
    h.cm.deleteStatus = NDIS_STATUS_NOT_ACCEPTED;
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.log).toEqual(['CM.coDeleteVc']);
    expect(h.ndis.vcInfo(vc)).toBeDefined();
    h.cm.deleteStatus = NDIS_STATUS_SUCCESS;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.count('MP.coDeleteVc')).toBe(1);
  });
});
