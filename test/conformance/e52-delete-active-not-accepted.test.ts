import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_NOT_ACCEPTED } from '../../lib/ndis';
import { Harness } from './harness';

// E52: NdisCoDeleteVc on an ACTIVE or ACTIVATING VC returns NOT_ACCEPTED and calls no handler.
describe('E52 delete of an active or activating VC', () => {
  it('ACTIVE', () => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.activeCmVc();
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.log).toEqual([]);
  });

  it('ACTIVATING', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.createCmVc().vc!;
    h.ndis.cmActivateVc(vc, makeCallParameters());
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.log).toEqual([]);
  });

  it('INACTIVE with a call outstanding [POLICY]', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.createClientVc().vc!;
    h.cm.override.cmMakeCall = () => 0x103;
    h.ndis.clMakeCall(vc, makeCallParameters());
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.log).toEqual([]);
  });
});
