import { describe, expect, it } from 'vitest';
import { makeCallParameters } from '../../lib/ndis';
import { Harness, MODES_AND_MCM } from './harness';

// E38 (spec §5 C2): a client may reuse its own VC for a new NdisClMakeCall after a successful
// close completion.
describe.each(MODES_AND_MCM)('E38 client VC reuse (%s, mcm=%s)', (mode, mcm) => {
  it('a second call on the same VC connects', () => {
    const h = new Harness({ mode, mcm });
    const vc = h.outgoingCall();
    h.closeCall(vc);
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE' });
    h.ndis.clMakeCall(vc, makeCallParameters());
    h.settle();
    expect(h.info(vc)).toMatchObject({ activation: 'ACTIVE', call: 'CONNECTED' });
    expect(h.violations()).toEqual([]);
  });
});
