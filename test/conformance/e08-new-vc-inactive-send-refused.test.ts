import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_VC_NOT_ACTIVATED } from '../../lib/ndis';
import { Harness } from './harness';

// E8: a newly created VC is INACTIVE: a client send completes with VC_NOT_ACTIVATED and never
// reaches MiniportCoSendNetBufferLists; the completion comes in a later turn.
describe('E8 send on a new VC', () => {
  it('completes with VC_NOT_ACTIVATED without reaching the miniport', () => {
    const h = new Harness({ mode: 'sync' });
    const { vc } = h.createClientVc();
    const nbls = h.send(vc!, 2);
    expect(h.cl.completed).toEqual([]); // never inside the send call
    h.settle();
    expect(h.cl.completed).toEqual(nbls);
    expect(nbls.map((n) => n.status)).toEqual([NDIS_STATUS_VC_NOT_ACTIVATED, NDIS_STATUS_VC_NOT_ACTIVATED]);
    expect(h.count('MP.coSendNetBufferLists')).toBe(0);
    expect(h.info(vc!).txInMiniport).toBe(0);
  });
});
