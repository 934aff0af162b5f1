import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_CLOSING, NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E30: after NdisClCloseCall (before completion), any client send on that VC completes with
// CLOSING without reaching the miniport.
describe.each(MODES)('E30 send after NdisClCloseCall (%s)', (mode) => {
  it('completes with CLOSING', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    h.cm.override.cmCloseCall = () => NDIS_STATUS_PENDING; // the CM is still tearing down
    expect(h.ndis.clCloseCall(vc)).toBe(NDIS_STATUS_PENDING);
    expect(h.info(vc)).toMatchObject({ call: 'CLOSING', activation: 'ACTIVE' });
    const before = h.count('MP.coSendNetBufferLists');
    const nbls = h.send(vc, 2);
    h.settle();
    expect(nbls.map((n) => n.status)).toEqual([NDIS_STATUS_CLOSING, NDIS_STATUS_CLOSING]);
    expect(h.count('MP.coSendNetBufferLists')).toBe(before);
  });
});
