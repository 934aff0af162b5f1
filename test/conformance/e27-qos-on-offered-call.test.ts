import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E27: a client may call NdisClModifyCallQoS on an offered call before completing the offer.
describe.each(MODES)('E27 QoS round on an offered call (%s)', (mode) => {
  it('is forwarded to the CM, and the offer is answered afterwards', () => {
    const h = new Harness({ mode });
    const vc = h.activeCmVc();
    h.cl.override.clIncomingCall = () => NDIS_STATUS_PENDING;
    expect(h.cm.dispatchIncomingCall(vc, makeCallParameters())).toBe(NDIS_STATUS_PENDING);
    expect(h.info(vc).call).toBe('OFFERED');
    const q = makeCallParameters();
    const st = h.ndis.clModifyCallQoS(h.cl_(vc), q);
    expect(st).toBe(mode === 'sync' ? NDIS_STATUS_SUCCESS : NDIS_STATUS_PENDING);
    h.settle();
    expect(h.count('CM.cmModifyCallQoS')).toBe(1);
    expect(h.info(vc)).toMatchObject({ call: 'OFFERED', callParameters: q });
    h.ndis.clIncomingCallComplete(NDIS_STATUS_SUCCESS, h.cl_(vc), q);
    h.settle();
    expect(h.entries('CM.cmIncomingCallComplete')).toEqual(['CM.cmIncomingCallComplete:SUCCESS']);
    expect(h.info(vc).call).toBe('CONNECTED');
    expect(h.violations()).toEqual([]);
  });
});
