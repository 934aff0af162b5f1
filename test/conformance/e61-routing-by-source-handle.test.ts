import { describe, expect, it } from 'vitest';
import { chainNbls } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E61: completed and indicated NBLs are routed by SourceHandle == NdisVcHandle.
describe.each(MODES)('E61 routing by SourceHandle (%s)', (mode) => {
  it('a completion list mixing two VCs reaches each sender on its own VC', () => {
    const h = new Harness({ mode });
    const v1 = h.outgoingCall();
    const v2 = h.outgoingCall();
    const [a] = h.send(v1, 1);
    const [b] = h.send(v2, 1);
    const held = h.mp.held.splice(0);
    // both NBLs handed back in one call made on v1's handle
    h.ndis.mCoSendNetBufferListsComplete(held[0]![0], chainNbls([a!, b!])!, 0);
    h.settle();
    expect(h.cl.completed).toEqual([a, b]);
    expect(h.cl.completedOn).toEqual([v1, v2]);
    expect(h.info(v1).txInMiniport).toBe(0);
    expect(h.info(v2).txInMiniport).toBe(0);
  });

  it('a send whose SourceHandle names another VC is flagged', () => {
    const h = new Harness({ mode });
    const v1 = h.outgoingCall();
    const v2 = h.outgoingCall();
    const nbls = h.send(v2, 1);
    h.mp.completeSends();
    h.settle();
    nbls[0]!.next = null;
    expect(() => h.ndis.coSendNetBufferLists(v1, nbls[0]!, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_E61' }),
    );
  });
});
