import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E58 [POLICY generation counter]: a stale handle (deleted VC, even if the slot is reused) is
// detected and rejected.
describe('E58 stale handle', () => {
  it('is rejected even after its slot was reused', () => {
    const h = new Harness({ mode: 'sync' });
    const old = h.createClientVc().vc!;
    const slot = h.info(old).slot;
    expect(h.ndis.coDeleteVc(old)).toBe(NDIS_STATUS_SUCCESS);
    const fresh = h.createClientVc().vc!;
    expect(h.info(fresh).slot).toBe(slot);
    expect(fresh).not.toBe(old);
    expect(h.ndis.vcInfo(old)).toBeUndefined();
    expect(() => h.ndis.clMakeCall(old, makeCallParameters())).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_E58' }),
    );
    expect(() => h.send(old, 1)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E58' }));
    h.ndis.verifier.mode = 'report';
    expect(h.ndis.coDeleteVc(old)).toBe(NDIS_STATUS_INVALID_PARAMETER);
    expect(h.ndis.vcInfo(fresh)).toMatchObject({ activation: 'INACTIVE' });
    expect(() => h.send(old, 1)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E58' })); // data path: always
  });
});
