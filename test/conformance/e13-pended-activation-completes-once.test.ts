import { describe, expect, it } from 'vitest';
import {
  makeCallParameters,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  statusName,
} from '../../lib/ndis';
import { Harness } from './harness';

// E13: if MiniportCoActivateVc pends, ProtocolCmActivateVcComplete fires exactly once with the
// status the miniport passed to NdisMCoActivateVcComplete, in a later turn.
describe('E13 pended activation', () => {
  it.each([[NDIS_STATUS_SUCCESS], [NDIS_STATUS_RESOURCES]])('completes once with 0x%s', async (status) => {
    const h = new Harness({ mode: 'async' });
    const vc = h.createCmVc().vc!;
    h.mp.activateStatus = status;
    const p = h.ndis.cmActivateVcAsync(vc, makeCallParameters());
    expect(h.count('CM.cmActivateVcComplete')).toBe(0);
    h.settle();
    expect(h.entries('CM.cmActivateVcComplete')).toEqual([`CM.cmActivateVcComplete:${statusName(status)}`]);
    await expect(p).resolves.toBe(status);
    h.settle();
    expect(h.count('CM.cmActivateVcComplete')).toBe(1);
  });

  it('a completion reported from inside the handler before it returns PENDING is processed after', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.createCmVc().vc!;
    h.mp.override.coActivateVc = (ctx, params) => {
      h.ndis.mCoActivateVcComplete(NDIS_STATUS_SUCCESS, ctx as never, params);
      return NDIS_STATUS_PENDING;
    };
    expect(h.ndis.cmActivateVc(vc, makeCallParameters())).toBe(NDIS_STATUS_PENDING);
    expect(h.count('CM.cmActivateVcComplete')).toBe(0); // never re-entrantly
    h.settle();
    expect(h.entries('CM.cmActivateVcComplete')).toEqual(['CM.cmActivateVcComplete:SUCCESS']);
    expect(h.violations()).toEqual([]);
  });
});
