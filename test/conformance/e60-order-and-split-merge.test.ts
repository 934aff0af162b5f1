import { describe, expect, it } from 'vitest';
import { chainNbls, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E60: NBLs reach the miniport in the sender's submission order; completion order and batching
// may differ, and the core copes with split and merged completion lists.
describe.each(MODES)('E60 order, split and merged completions (%s)', (mode) => {
  it('preserves submission order; any completion grouping works', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    const a = h.send(vc, 3);
    const b = h.send(vc, 2);
    expect(h.mp.sent).toEqual([...a, ...b]);
    const held = h.mp.held.splice(0);
    const mpVc = held[0]![0];
    const [n0, n1, n2, n3, n4] = held.map(([, n]) => n);
    for (const n of [n0, n1, n2, n3, n4]) n!.status = NDIS_STATUS_SUCCESS;
    h.ndis.mCoSendNetBufferListsComplete(mpVc, chainNbls([n4!, n0!])!, 0); // merged across sends, reversed
    h.ndis.mCoSendNetBufferListsComplete(mpVc, chainNbls([n2!])!, 0); // split
    h.ndis.mCoSendNetBufferListsComplete(mpVc, chainNbls([n1!, n3!])!, 0);
    h.settle();
    expect(h.cl.completed).toEqual([n4, n0, n2, n1, n3]);
    expect(new Set(h.cl.completed).size).toBe(5);
    expect(h.info(vc).txInMiniport).toBe(0);
  });
});
