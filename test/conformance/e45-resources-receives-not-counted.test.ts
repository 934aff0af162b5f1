import { describe, expect, it } from 'vitest';
import { NDIS_RECEIVE_FLAGS_RESOURCES, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E45: receive NBLs indicated with NDIS_RECEIVE_FLAGS_RESOURCES never count toward the drain and
// are never passed to MiniportReturnNetBufferLists.
describe.each(MODES)('E45 RESOURCES receives (%s)', (mode) => {
  it('do not count and never come back through the return path', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    const nbls = h.mp.indicate(h.mp_(vc), 3, NDIS_RECEIVE_FLAGS_RESOURCES);
    expect(h.cl.received).toEqual(nbls);
    expect(h.cl.heldRx).toEqual([]);
    expect(h.info(vc).rxHeld).toBe(0);
    const st = h.ndis.cmDeactivateVc(h.cm_(vc));
    if (mode === 'sync') expect(st).toBe(NDIS_STATUS_SUCCESS);
    h.settle();
    expect(h.info(vc).activation).toBe('INACTIVE');
    expect(h.count('MP.returnNetBufferLists')).toBe(0);
    expect(h.mp.returned).toEqual([]);
  });
});
