import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SEND_ABORTED } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E31: NdisClCloseCall issued while the client still has sends outstanding on the VC is flagged.
// (Report mode continues: the drain still completes every send before the VC goes inactive.)
describe.each(MODES)('E31 close with sends in the miniport (%s)', (mode) => {
  it('throws ERR_CONDIS_E31', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    h.send(vc, 1);
    expect(() => h.ndis.clCloseCall(vc)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E31' }));
  });

  it('report mode: recorded, then the teardown drains the send', () => {
    const h = new Harness({ mode, verifier: 'report' });
    const vc = h.outgoingCall();
    const [nbl] = h.send(vc, 1);
    h.closeCall(vc);
    expect(h.violations()).toEqual(['ERR_CONDIS_E31']);
    expect(nbl!.status).toBe(NDIS_STATUS_SEND_ABORTED);
    expect(h.cl.completed).toEqual([nbl]);
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE' });
  });
});
