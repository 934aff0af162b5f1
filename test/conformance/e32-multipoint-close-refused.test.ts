import { describe, expect, it } from 'vitest';
import {
  MULTIPOINT_VC,
  makeCallParameters,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E32: NdisClCloseCall on a multipoint VC with more than one party is failed by the CM and
// leaves the call CONNECTED (K13): sends flow again.
describe.each(MODES)('E32 multipoint close with parties left (%s)', (mode) => {
  it('the failure reaches the client and the call stays up', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall(makeCallParameters({ flags: MULTIPOINT_VC }));
    const parties = 2; // the CM's own party count
    h.cm.override.cmCloseCall = () => {
      if (parties <= 1) return NDIS_STATUS_SUCCESS;
      if (mode === 'sync') return NDIS_STATUS_FAILURE;
      h.later(() => h.ndis.cmCloseCallComplete(NDIS_STATUS_FAILURE, h.cm_(vc)));
      return NDIS_STATUS_PENDING;
    };
    const st = h.ndis.clCloseCall(vc);
    h.settle();
    if (mode === 'sync') expect(st).toBe(NDIS_STATUS_FAILURE);
    else expect(h.entries('CL.clCloseCallComplete')).toEqual(['CL.clCloseCallComplete:FAILURE']);
    expect(h.info(vc)).toMatchObject({ call: 'CONNECTED', activation: 'ACTIVE' });
    const [nbl] = h.send(vc, 1);
    expect(h.mp.sent).toContain(nbl);
  });
});
