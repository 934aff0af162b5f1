import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E34 (spec §5 C1): ProtocolClCloseCallComplete(SUCCESS) is never delivered while the VC's
// deactivation is still pending. The core flags the CM, holds the completion, and delivers it
// once the deactivation has completed.
describe('E34 close completion while the deactivation is pending', () => {
  const setup = (verifier: 'throw' | 'report') => {
    const h = new Harness({ mode: 'async', verifier });
    const vc = h.outgoingCall();
    h.mp.deactivateBehaviour = 'hang';
    h.cm.override.cmCloseCall = () => {
      h.later(() => {
        h.ndis.cmDeactivateVc(h.cm_(vc)); // PENDING: the miniport hangs
        h.ndis.cmCloseCallComplete(NDIS_STATUS_SUCCESS, h.cm_(vc)); // too early
      });
      return NDIS_STATUS_PENDING;
    };
    return { h, vc };
  };

  it('throws ERR_CONDIS_E34', () => {
    const { h, vc } = setup('throw');
    h.ndis.clCloseCall(vc);
    expect(() => h.settle()).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E34' }));
  });

  it('report mode: the close completion waits for the deactivation', () => {
    const { h, vc } = setup('report');
    h.ndis.clCloseCall(vc);
    h.settle();
    expect(h.violations()).toEqual(['ERR_CONDIS_E34']);
    expect(h.count('CL.clCloseCallComplete')).toBe(0);
    expect(h.info(vc)).toMatchObject({ activation: 'DEACTIVATING', call: 'CLOSING' });
    h.ndis.mCoDeactivateVcComplete(NDIS_STATUS_SUCCESS, h.mp_(vc));
    h.settle();
    expect(h.entries('CL.clCloseCallComplete')).toEqual(['CL.clCloseCallComplete:SUCCESS']);
    expect(h.log.indexOf('CM.cmDeactivateVcComplete:SUCCESS')).toBeLessThan(
      h.log.indexOf('CL.clCloseCallComplete:SUCCESS'),
    );
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE' });
  });
});
