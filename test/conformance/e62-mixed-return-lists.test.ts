import { describe, expect, it } from 'vitest';
import { chainNbls } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E62: MiniportReturnNetBufferLists may receive a list mixing NBLs from several indications
// (and VCs); per-VC rxHeld is decremented per NBL. Returning an NBL twice is flagged.
describe.each(MODES)('E62 mixed return lists (%s)', (mode) => {
  it('one return call, per-VC accounting', () => {
    const h = new Harness({ mode, verifier: 'report' });
    const v1 = h.outgoingCall();
    const v2 = h.outgoingCall();
    const a = h.mp.indicate(h.mp_(v1), 2);
    const b = h.mp.indicate(h.mp_(v2), 1);
    const c = h.mp.indicate(h.mp_(v1), 1);
    expect(h.info(v1).rxHeld).toBe(3);
    expect(h.info(v2).rxHeld).toBe(1);
    h.cl.heldRx.length = 0;
    h.ndis.returnNetBufferLists(h.clBinding, chainNbls([c[0]!, b[0]!, a[1]!])!, 0);
    expect(h.info(v1).rxHeld).toBe(1);
    expect(h.info(v2).rxHeld).toBe(0);
    expect(h.entries('MP.returnNetBufferLists')).toEqual(['MP.returnNetBufferLists:3']);
    h.ndis.returnNetBufferLists(h.clBinding, chainNbls([a[0]!, b[0]!])!, 0); // b[0] again
    expect(h.info(v1).rxHeld).toBe(0);
    expect(h.violations()).toEqual(['ERR_CONDIS_E62']);
    expect(h.mp.returned).toEqual([c[0], b[0], a[1], a[0]]);
  });
});
