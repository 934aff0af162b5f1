import { describe, expect, it } from 'vitest';
import {
  makeCallParameters,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
} from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E23: if the CM activated the VC and then fails the make-call without deactivating, the
// client's NdisCoDeleteVc returns NOT_ACCEPTED.
describe.each(MODES)('E23 CM fails the call but leaves the VC active (%s)', (mode) => {
  it('delete is refused with NOT_ACCEPTED and calls no handler', () => {
    const h = new Harness({ mode });
    const vc = h.createClientVc().vc!;
    h.cm.override.cmMakeCall = (_ctx, params) => {
      const st = h.ndis.cmActivateVc(h.cm_(vc), params);
      if (mode === 'sync') return st === 0 ? NDIS_STATUS_FAILURE : st;
      h.cm.override.cmActivateVcComplete = () =>
        h.later(() => h.ndis.cmMakeCallComplete(NDIS_STATUS_FAILURE, h.cm_(vc)));
      return NDIS_STATUS_PENDING;
    };
    h.ndis.clMakeCall(vc, makeCallParameters());
    h.settle();
    expect(h.info(vc)).toMatchObject({ activation: 'ACTIVE', call: 'IDLE' });
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.log).toEqual([]);
  });
});
