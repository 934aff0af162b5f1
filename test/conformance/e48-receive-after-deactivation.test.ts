import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E48 (U8): a receive indication on a VC whose deactivation has completed is not delivered to the
// protocol and its NBLs go straight back to the miniport; the verifier flags the indication.
describe.each(MODES)('E48 receive on a deactivated VC (%s)', (mode) => {
  it('throws ERR_CONDIS_E48', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    h.ndis.cmDeactivateVc(h.cm_(vc));
    h.settle();
    expect(() => h.mp.indicate(h.mp_(vc), 1)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E48' }));
  });

  it('report mode: NBLs back to MiniportReturnNetBufferLists, never to the protocol', () => {
    const h = new Harness({ mode, verifier: 'report' });
    const vc = h.outgoingCall();
    expect(h.ndis.cmDeactivateVc(h.cm_(vc))).toBe(mode === 'sync' ? NDIS_STATUS_SUCCESS : 0x103);
    h.settle();
    const nbls = h.mp.indicate(h.mp_(vc), 2);
    expect(h.cl.received).toEqual([]);
    expect(h.mp.returned).toEqual([]); // not re-entrantly
    h.settle();
    expect(h.mp.returned).toEqual(nbls);
    expect(h.info(vc).rxHeld).toBe(0);
    expect(h.violations()).toEqual(['ERR_CONDIS_E48']);
  });
});
