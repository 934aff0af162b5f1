import { describe, expect, it } from 'vitest';
import {
  type CoCallParameters,
  makeCallParameters,
  NDIS_STATUS_SUCCESS,
  ROUND_UP_FLOW,
} from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E15: with ROUND_UP_FLOW/ROUND_DOWN_FLOW set, the values the miniport wrote into CallParameters
// are what the CM sees in ProtocolCmActivateVcComplete (or on the sync return).
describe.each(MODES)('E15 rounded flow parameters (%s)', (mode) => {
  it('the CM sees the rounded values in the same object', () => {
    const h = new Harness({ mode });
    const vc = h.createCmVc().vc!;
    h.mp.roundTokenRate = 1024;
    const flow = { tokenRate: 1000, peakBandwidth: 2000, maxSduSize: 1500 };
    const params = makeCallParameters({
      callMgrParameters: { transmit: { ...flow }, receive: { ...flow } },
      mediaParameters: { flags: ROUND_UP_FLOW },
    });
    let seen: CoCallParameters | undefined;
    h.cm.override.cmActivateVcComplete = (_s, _c, p) => {
      seen = p;
    };
    const st = h.ndis.cmActivateVc(vc, params);
    if (st === NDIS_STATUS_SUCCESS) seen = params; // self-completion reads its own buffer
    h.settle();
    expect(seen).toBe(params);
    expect(seen!.callMgrParameters!.transmit.tokenRate).toBe(1024);
  });
});
