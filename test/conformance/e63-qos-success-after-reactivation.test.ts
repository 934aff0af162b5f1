import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES_AND_MCM } from './harness';

// E63: a successful QoS change is always preceded by a successful Ndis(M)CmActivateVc with the
// new parameters on the same VC.
describe.each(MODES_AND_MCM)('E63 QoS change (%s, mcm=%s)', (mode, mcm) => {
  it('the CM re-activates before completing', () => {
    const h = new Harness({ mode, mcm });
    const vc = h.outgoingCall();
    const q = makeCallParameters();
    const st = h.ndis.clModifyCallQoS(vc, q);
    h.settle();
    if (mode === 'sync') expect(st).toBe(NDIS_STATUS_SUCCESS);
    else expect(h.entries('CL.clModifyCallQoSComplete')).toEqual(['CL.clModifyCallQoSComplete:SUCCESS']);
    expect(h.info(vc)).toMatchObject({ call: 'CONNECTED', callParameters: q });
    const names = h.ndis.trace!.names();
    const act = names.lastIndexOf(mcm ? 'NdisMCmActivateVc' : 'NdisCmActivateVc');
    expect(act).toBeGreaterThan(names.indexOf('NdisClModifyCallQoS'));
    expect(h.violations()).toEqual([]);
  });

  it('SUCCESS without a re-activation is ERR_CONDIS_E63', () => {
    const h = new Harness({ mode, mcm, verifier: 'report' });
    const vc = h.outgoingCall();
    h.cm.override.cmModifyCallQoS = () => {
      if (mode === 'sync') return NDIS_STATUS_SUCCESS;
      h.later(() =>
        mcm
          ? h.ndis.mCmModifyCallQoSComplete(NDIS_STATUS_SUCCESS, h.cm_(vc))
          : h.ndis.cmModifyCallQoSComplete(NDIS_STATUS_SUCCESS, h.cm_(vc)),
      );
      return NDIS_STATUS_PENDING;
    };
    h.ndis.clModifyCallQoS(vc, makeCallParameters());
    h.settle();
    expect(h.violations()).toEqual(['ERR_CONDIS_E63']);
  });
});
