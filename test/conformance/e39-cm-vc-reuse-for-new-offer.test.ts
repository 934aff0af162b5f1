import { describe, expect, it } from 'vitest';
import { makeCallParameters } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E39: a CM may dispatch a new incoming call on a VC it created after the previous call closed
// and the VC was deactivated (K15), with a fresh parameter set.
describe.each(MODES)('E39 new offer on a reused CM VC (%s)', (mode) => {
  it('reaches the client again', () => {
    const h = new Harness({ mode });
    const vc = h.incomingCall();
    h.closeCall(h.cl_(vc));
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE' });
    const fresh = makeCallParameters();
    h.cm.activate(vc, fresh);
    h.settle();
    h.cm.dispatchIncomingCall(vc, fresh);
    h.settle();
    expect(h.count('CL.clIncomingCall')).toBe(2);
    expect(h.count('CL.clCallConnected')).toBe(2);
    expect(h.info(vc)).toMatchObject({ activation: 'ACTIVE', call: 'CONNECTED' });
    expect(h.violations()).toEqual([]);
  });
});
