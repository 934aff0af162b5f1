import { describe, expect, it } from 'vitest';
import {
  makeCallParameters,
  NDIS_STATUS_DEST_OUT_OF_ORDER,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E36: a client-created VC closed with a non-SUCCESS CloseStatus must be deleted: the framework
// asserts no NdisClMakeCall reuse.
describe.each(MODES)('E36 reuse after a failure CloseStatus (%s)', (mode) => {
  it('NdisClMakeCall is flagged; delete works', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    h.cm.dispatchIncomingCloseCall(NDIS_STATUS_DEST_OUT_OF_ORDER, h.cm_(vc));
    h.closeCall(vc);
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE' });
    expect(() => h.ndis.clMakeCall(vc, makeCallParameters())).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_E36' }),
    );
    h.ndis.verifier.mode = 'report';
    expect(h.ndis.clMakeCall(vc, makeCallParameters())).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.count('CM.cmMakeCall')).toBe(1);
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
  });
});
