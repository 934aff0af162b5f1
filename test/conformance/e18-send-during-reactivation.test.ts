import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness } from './harness';

// E18: sends issued while a re-activation is pending are forwarded to the miniport.
describe('E18 sends during a pending re-activation', () => {
  it('reach MiniportCoSendNetBufferLists', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.outgoingCall();
    expect(h.ndis.cmActivateVc(h.cm_(vc), makeCallParameters())).toBe(NDIS_STATUS_PENDING);
    expect(h.info(vc).activation).toBe('REACTIVATING');
    const nbls = h.send(vc, 3);
    expect(h.mp.sent).toEqual(nbls);
    expect(h.info(vc).txInMiniport).toBe(3);
  });
});
