import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_INVALID_DATA, NDIS_STATUS_PENDING } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E33: ProtocolCmCloseCall with close data on a medium that can't carry it returns INVALID_DATA;
// NDIS passes the data through and the status back; the call stays up (K13).
describe.each(MODES)('E33 close data the medium cannot carry (%s)', (mode) => {
  it('INVALID_DATA reaches the client', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    let seen: Uint8Array | undefined;
    h.cm.override.cmCloseCall = (_c, _p, data) => {
      seen = data;
      if (!data) return 0;
      if (mode === 'sync') return NDIS_STATUS_INVALID_DATA;
      h.later(() => h.ndis.cmCloseCallComplete(NDIS_STATUS_INVALID_DATA, h.cm_(vc)));
      return NDIS_STATUS_PENDING;
    };
    const data = new Uint8Array([1, 2, 3]);
    const st = h.ndis.clCloseCall(vc, undefined, data);
    h.settle();
    expect(seen).toBe(data);
    if (mode === 'sync') expect(st).toBe(NDIS_STATUS_INVALID_DATA);
    else expect(h.entries('CL.clCloseCallComplete')).toEqual(['CL.clCloseCallComplete:INVALID_DATA']);
    expect(h.info(vc).call).toBe('CONNECTED');
  });
});
