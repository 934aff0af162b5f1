import { describe, expect, it } from 'vitest';
import {
  makeCallParameters,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
} from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E14: an initial activation completing with INVALID_DATA leaves the VC INACTIVE: sends still
// refused, delete allowed.
describe.each(MODES)('E14 failed initial activation (%s)', (mode) => {
  it('leaves the VC INACTIVE', () => {
    const h = new Harness({ mode });
    const vc = h.createClientVc().vc!;
    h.mp.activateStatus = NDIS_STATUS_INVALID_DATA;
    h.ndis.cmActivateVc(h.cm_(vc), makeCallParameters());
    h.settle();
    expect(h.info(vc).activation).toBe('INACTIVE');
    const [nbl] = h.send(vc, 1);
    h.settle();
    expect(nbl!.status).toBe(NDIS_STATUS_VC_NOT_ACTIVATED);
    expect(h.count('MP.coSendNetBufferLists')).toBe(0);
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
  });
});
