import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E44: with one receive NBL still held by the client, a pended deactivation does not complete;
// it completes only after that NBL's NdisReturnNetBufferLists -> MiniportReturnNetBufferLists.
describe.each(MODES)('E44 a held receive blocks the deactivation (%s)', (mode) => {
  it('completes only after the return reaches the miniport', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    h.mp.indicate(h.mp_(vc), 1);
    expect(h.info(vc).rxHeld).toBe(1);
    expect(h.ndis.cmDeactivateVc(h.cm_(vc))).toBe(NDIS_STATUS_PENDING);
    h.settle();
    h.clock.advance(60_000);
    h.settle();
    expect(h.info(vc).activation).toBe('DEACTIVATING');
    expect(h.count('CM.cmDeactivateVcComplete')).toBe(0);
    h.cl.returnReceives();
    h.settle();
    const ret = h.log.indexOf('MP.returnNetBufferLists:1');
    const done = h.log.indexOf('CM.cmDeactivateVcComplete:SUCCESS');
    expect(ret).toBeGreaterThanOrEqual(0);
    expect(done).toBeGreaterThan(ret);
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', rxHeld: 0 });
  });
});
