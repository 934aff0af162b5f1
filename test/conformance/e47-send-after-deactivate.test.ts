import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_CLOSING, NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E47: a send posted after deactivation began completes with NDIS_STATUS_CLOSING and never
// reaches MiniportCoSendNetBufferLists (the drain's stop bit).
describe.each(MODES)('E47 send after deactivation began (%s)', (mode) => {
  it('completes with CLOSING', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    h.mp.indicate(h.mp_(vc), 1);
    expect(h.ndis.cmDeactivateVc(h.cm_(vc))).toBe(NDIS_STATUS_PENDING);
    expect(h.info(vc)).toMatchObject({ activation: 'DEACTIVATING', call: 'CONNECTED', stopping: true });
    const sentBefore = h.mp.sent.length;
    const nbls = h.send(vc, 2);
    expect(h.cl.completed).toEqual([]); // not inside the send call
    h.settle();
    expect(nbls.map((n) => n.status)).toEqual([NDIS_STATUS_CLOSING, NDIS_STATUS_CLOSING]);
    expect(h.mp.sent.length).toBe(sentBefore);
    expect(h.info(vc).txInMiniport).toBe(0);
  });

  it('pass-through policy forwards it instead (the miniport applies the table)', () => {
    const h = new Harness({ mode, sendPolicy: 'pass-through' });
    const vc = h.outgoingCall();
    h.mp.indicate(h.mp_(vc), 1);
    h.mp.deactivateBehaviour = 'hang';
    h.ndis.cmDeactivateVc(h.cm_(vc));
    const nbls = h.send(vc, 1);
    expect(h.mp.sent).toEqual(nbls);
  });
});
