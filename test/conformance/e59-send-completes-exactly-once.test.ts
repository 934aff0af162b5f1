import { describe, expect, it } from 'vitest';
import { chainNbls, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E59: every NBL given to MiniportCoSendNetBufferLists results in exactly one
// ProtocolCoSendNetBufferListsComplete for it at the sender; a second completion is flagged
// and never delivered.
describe.each(MODES)('E59 exactly one send completion (%s)', (mode) => {
  it('one completion per NBL; a double completion is ERR_CONDIS_E59', () => {
    const h = new Harness({ mode, verifier: 'report' });
    const vc = h.outgoingCall();
    const nbls = h.send(vc, 4);
    const held = h.mp.held.slice();
    h.mp.completeSends();
    h.settle();
    expect(h.cl.completed).toEqual(nbls);
    // the miniport completes the first NBL again
    h.ndis.mCoSendNetBufferListsComplete(held[0]![0], chainNbls([held[0]![1]])!, 0);
    h.settle();
    expect(h.cl.completed.length).toBe(4);
    expect(h.violations()).toEqual(['ERR_CONDIS_E59']);
    expect(h.info(vc).txInMiniport).toBe(0);
    void NDIS_STATUS_SUCCESS;
  });
});
