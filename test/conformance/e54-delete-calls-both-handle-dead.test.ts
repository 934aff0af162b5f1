import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E54: a successful NdisCoDeleteVc calls MiniportCoDeleteVc and the peer's ProtocolCoDeleteVc
// exactly once each, synchronously, and the handle is dead on return.
describe('E54 successful delete', () => {
  it.each([['client-created'], ['CM-created']])('%s VC', (kind) => {
    const h = new Harness({ mode: 'sync' });
    const vc = kind === 'client-created' ? h.createClientVc().vc! : h.createCmVc().vc!;
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log).toEqual([kind === 'client-created' ? 'CM.coDeleteVc' : 'CL.coDeleteVc', 'MP.coDeleteVc']);
    expect(h.sched.pending).toBe(0);
    expect(h.ndis.vcInfo(vc)).toBeUndefined();
    expect(h.ndis.vcCount).toBe(0);
    expect(() => h.ndis.cmActivateVc(vc, makeCallParameters())).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_E58' }),
    );
  });
});
