import { describe, expect, it } from 'vitest';
import { makeNbl } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E67: MCM signalling channels never produce any NDIS-visible event: no handle, no
// create/delete/activate callbacks. The runtime has no API for them; an MCM's internal signalling
// around a whole call leaves no trace beyond the client VC's own events.
describe.each(MODES)('E67 MCM signalling is internal (%s)', (mode) => {
  it('a call over an MCM shows one VC and no miniport VC callbacks', () => {
    const h = new Harness({ mode, mcm: true });
    const signalling: Uint8Array[] = [];
    // the MCM "dials" on its own D-channel: pure driver-internal work
    h.cm.override.cmActivateVcComplete = () =>
      signalling.push(makeNbl(new Uint8Array([1])).firstNetBuffer!.data());
    const vc = h.outgoingCall();
    expect(h.ndis.vcCount).toBe(1);
    const names = h.ndis.trace!.names();
    expect(names.filter((n) => /^Miniport.*Vc$/.test(n))).toEqual([]);
    expect(names.filter((n) => n === 'NdisCoCreateVc' || n === 'NdisMCmCreateVc')).toEqual([
      'NdisCoCreateVc',
    ]);
    h.closeCall(vc);
    expect(h.ndis.vcCount).toBe(1);
  });
});
