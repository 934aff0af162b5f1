import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_INVALID_DATA, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E17: a failed re-activation leaves the VC ACTIVE with the previous parameters, and client
// sends keep reaching the miniport.
describe.each(MODES)('E17 failed re-activation (%s)', (mode) => {
  it('keeps the VC active with the old parameters', () => {
    const h = new Harness({ mode });
    const p1 = makeCallParameters();
    const vc = h.outgoingCall(p1);
    h.mp.activateStatus = NDIS_STATUS_INVALID_DATA;
    h.ndis.cmActivateVc(h.cm_(vc), makeCallParameters());
    h.settle();
    expect(h.info(vc)).toMatchObject({ activation: 'ACTIVE', call: 'CONNECTED', callParameters: p1 });
    const [nbl] = h.send(vc, 1);
    expect(h.mp.sent).toContain(nbl);
    h.mp.completeSends();
    h.settle();
    expect(nbl!.status).toBe(NDIS_STATUS_SUCCESS);
  });
});
