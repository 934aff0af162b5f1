import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E43: MiniportCoDeactivateVc returning SUCCESS while txInMiniport>0 or rxHeld>0 for that VC is
// flagged. The message names the VC, its states and its counters. In report mode NDIS keeps the
// VC deactivating until the counter reaches zero.
describe('E43 deactivation completed with work outstanding', () => {
  it('sync SUCCESS with a send in the miniport throws ERR_CONDIS_E43 with the counters', () => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.outgoingCall();
    h.send(vc, 1);
    h.mp.override.coDeactivateVc = () => NDIS_STATUS_SUCCESS; // forgets its held send
    let err: unknown;
    try {
      h.ndis.cmDeactivateVc(h.cm_(vc));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_CONDIS_E43' });
    expect((err as Error).message).toMatch(/A=DEACTIVATING C=CONNECTED txInMiniport=1 rxHeld=0/);
  });

  it('report mode: the CM sees PENDING and the completion only after the drain', () => {
    const h = new Harness({ mode: 'sync', verifier: 'report' });
    const vc = h.outgoingCall();
    h.send(vc, 1);
    h.mp.override.coDeactivateVc = () => NDIS_STATUS_SUCCESS;
    expect(h.ndis.cmDeactivateVc(h.cm_(vc))).toBe(NDIS_STATUS_PENDING);
    expect(h.violations()).toEqual(['ERR_CONDIS_E43']);
    h.settle();
    expect(h.info(vc).activation).toBe('DEACTIVATING');
    h.mp.completeSends();
    h.settle();
    expect(h.info(vc).activation).toBe('INACTIVE');
    expect(h.entries('CM.cmDeactivateVcComplete')).toEqual(['CM.cmDeactivateVcComplete:SUCCESS']);
  });

  it('NdisMCoDeactivateVcComplete(SUCCESS) with a receive held by the client', () => {
    const h = new Harness({ mode: 'async', verifier: 'report' });
    const vc = h.outgoingCall();
    h.mp.indicate(h.mp_(vc), 1);
    h.mp.deactivateBehaviour = 'hang';
    h.ndis.cmDeactivateVc(h.cm_(vc));
    h.ndis.mCoDeactivateVcComplete(NDIS_STATUS_SUCCESS, h.mp_(vc));
    expect(h.violations()).toEqual(['ERR_CONDIS_E43']);
    h.settle();
    expect(h.count('CM.cmDeactivateVcComplete')).toBe(0);
    h.cl.returnReceives();
    h.settle();
    expect(h.entries('CM.cmDeactivateVcComplete')).toEqual(['CM.cmDeactivateVcComplete:SUCCESS']);
  });

  it('MCM: NdisMCmDeactivateVc before its own drain', () => {
    const h = new Harness({ mode: 'sync', mcm: true, verifier: 'report' });
    const vc = h.outgoingCall();
    h.send(vc, 1);
    expect(h.ndis.mCmDeactivateVc(h.cm_(vc))).toBe(NDIS_STATUS_PENDING);
    expect(h.violations()).toEqual(['ERR_CONDIS_E43']);
    h.mp.completeSends();
    h.settle();
    expect(h.info(vc).activation).toBe('INACTIVE');
    expect(h.entries('CM.cmDeactivateVcComplete')).toEqual(['CM.cmDeactivateVcComplete:SUCCESS']);
  });
});
