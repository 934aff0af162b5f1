import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E66: ProtocolCmCloseAf with calls still open either returns NOT_ACCEPTED or pends until all
// calls are closed and SAPs deregistered.
describe('E66 closing an AF with calls open', () => {
  it('NOT_ACCEPTED: the AF stays open', () => {
    const h = new Harness({ mode: 'sync' });
    h.outgoingCall();
    h.cm.override.cmCloseAf = () => (h.ndis.vcCount > 0 ? NDIS_STATUS_NOT_ACCEPTED : NDIS_STATUS_SUCCESS);
    expect(h.ndis.clCloseAddressFamily(h.afHandle)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.createClientVc().status).toBe(NDIS_STATUS_SUCCESS); // still usable
  });

  it('PENDING until the calls are closed and the SAP deregistered', async () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.outgoingCall();
    let closing = false;
    h.cm.override.cmCloseAf = () => {
      closing = true;
      return NDIS_STATUS_PENDING;
    };
    const p = h.ndis.clCloseAddressFamilyAsync(h.afHandle);
    expect(closing).toBe(true);
    h.closeCall(vc);
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.ndis.clDeregisterSap(h.sapHandle)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.ndis.vcCount).toBe(0);
    h.ndis.cmCloseAddressFamilyComplete(NDIS_STATUS_SUCCESS, h.cmAfHandle);
    h.settle();
    await expect(p).resolves.toBe(NDIS_STATUS_SUCCESS);
    expect(h.createClientVc().status).not.toBe(NDIS_STATUS_SUCCESS); // AF gone
  });
});
