import { describe, expect, it } from 'vitest';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { Harness } from './harness';

// E7: any create or delete handler returning PENDING is a fatal contract violation.
describe('E7 PENDING from a create or delete handler', () => {
  it('MiniportCoCreateVc PENDING throws ERR_CONDIS_E7 and leaves no VC behind', () => {
    const h = new Harness({ mode: 'sync' });
    h.mp.createStatus = NDIS_STATUS_PENDING;
    expect(() => h.createClientVc()).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E7' }));
    expect(h.ndis.vcCount).toBe(0);
  });

  it('peer ProtocolCoCreateVc PENDING: report mode fails the create and rolls back', () => {
    const h = new Harness({ mode: 'sync', verifier: 'report' });
    h.cm.createStatus = NDIS_STATUS_PENDING;
    const { status, vc } = h.createClientVc();
    expect(status).toBe(NDIS_STATUS_FAILURE);
    expect(vc).toBeUndefined();
    expect(h.log).toEqual(['MP.coCreateVc', 'CM.coCreateVc', 'MP.coDeleteVc']);
    expect(h.violations()).toEqual(['ERR_CONDIS_E7']);
  });

  it('ProtocolCoDeleteVc PENDING: throws; in report mode the delete is refused and the VC survives', () => {
    const h = new Harness({ mode: 'sync' });
    const { vc } = h.createClientVc();
    h.cm.deleteStatus = NDIS_STATUS_PENDING;
    expect(() => h.ndis.coDeleteVc(vc!)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E7' }));
    expect(h.ndis.vcInfo(vc!)).toBeDefined();
    h.ndis.verifier.mode = 'report';
    expect(h.ndis.coDeleteVc(vc!)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.count('MP.coDeleteVc')).toBe(0);
    h.cm.deleteStatus = NDIS_STATUS_SUCCESS;
    expect(h.ndis.coDeleteVc(vc!)).toBe(NDIS_STATUS_SUCCESS);
  });

  it('MiniportCoDeleteVc PENDING is flagged', () => {
    const h = new Harness({ mode: 'sync' });
    const { vc } = h.createClientVc();
    h.mp.deleteStatus = NDIS_STATUS_PENDING;
    expect(() => h.ndis.coDeleteVc(vc!)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E7' }));
  });
});
