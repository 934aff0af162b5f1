import { describe, expect, it } from 'vitest';
import {
  CALL_PARAMETERS_CHANGED,
  type CoCallParameters,
  makeCallParameters,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E24: the CallParameters buffer passed to NdisClMakeCall is the same object handed to
// ProtocolClMakeCallComplete (CM edits visible, CALL_PARAMETERS_CHANGED preserved).
describe.each(MODES)('E24 make-call parameters identity (%s)', (mode) => {
  it("the client's own object comes back with the CM's edits", () => {
    const h = new Harness({ mode });
    const vc = h.createClientVc().vc!;
    const mine = makeCallParameters({ mediaParameters: { flags: 0, specific: 'asked' } });
    let back: CoCallParameters | undefined;
    h.cl.override.clMakeCallComplete = (_s, _c, _p, params) => {
      back = params;
    };
    h.cm.override.cmMakeCall = (_ctx, params) => {
      const st = h.ndis.cmActivateVc(h.cm_(vc), params);
      if (mode === 'sync') {
        params.flags |= CALL_PARAMETERS_CHANGED;
        params.mediaParameters = { flags: 0, specific: 'granted' };
        return st;
      }
      h.cm.override.cmActivateVcComplete = () => {
        // The CM answers with a separate buffer: NDIS copies it into the client's.
        const answer = makeCallParameters({
          flags: CALL_PARAMETERS_CHANGED,
          mediaParameters: { flags: 0, specific: 'granted' },
        });
        h.ndis.cmMakeCallComplete(NDIS_STATUS_SUCCESS, h.cm_(vc), undefined, undefined, answer);
      };
      return NDIS_STATUS_PENDING;
    };
    h.ndis.clMakeCall(vc, mine);
    h.settle();
    if (mode === 'async') expect(back).toBe(mine);
    expect(mine.flags & CALL_PARAMETERS_CHANGED).toBe(CALL_PARAMETERS_CHANGED);
    expect(mine.mediaParameters?.specific).toBe('granted');
    expect(h.info(vc).call).toBe('CONNECTED');
  });
});
