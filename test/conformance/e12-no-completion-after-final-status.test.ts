import { describe, expect, it } from 'vitest';
import {
  makeCallParameters,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { Harness } from './harness';

// E12: if NdisCmActivateVc returns anything but PENDING, ProtocolCmActivateVcComplete is never
// called by NDIS for that request (the CM self-completes).
describe('E12 no ProtocolCmActivateVcComplete after a final status', () => {
  it.each([
    ['SUCCESS', NDIS_STATUS_SUCCESS],
    ['INVALID_DATA', NDIS_STATUS_INVALID_DATA],
  ])('miniport answers %s synchronously', (_n, status) => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.createCmVc().vc!;
    h.mp.activateStatus = status;
    expect(h.ndis.cmActivateVc(vc, makeCallParameters())).toBe(status);
    h.settle();
    expect(h.count('CM.cmActivateVcComplete')).toBe(0);
  });

  it('a refusal (NOT_ACCEPTED) is final too', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.createCmVc().vc!;
    h.ndis.cmActivateVc(vc, makeCallParameters());
    expect(h.ndis.cmActivateVc(vc, makeCallParameters())).toBe(NDIS_STATUS_NOT_ACCEPTED);
    h.settle();
    expect(h.count('CM.cmActivateVcComplete')).toBe(1); // the first request's only
  });
});
