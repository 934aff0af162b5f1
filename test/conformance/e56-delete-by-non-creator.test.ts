import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_NOT_ACCEPTED } from '../../lib/ndis';
import { Harness } from './harness';

// E56: NdisCoDeleteVc by the non-creator is refused and the VC survives.
describe.each([[false], [true]])('E56 delete by the non-creator (mcm=%s)', (mcm) => {
  it('CM deleting a client VC: ERR_CONDIS_E56, VC intact', () => {
    const h = new Harness({ mode: 'sync', mcm });
    const vc = h.createClientVc().vc!;
    h.log.length = 0;
    expect(() => h.ndis.coDeleteVc(h.cm_(vc))).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_E56' }));
    expect(h.log).toEqual([]);
    expect(h.ndis.vcInfo(vc)).toBeDefined();
  });

  it('client deleting a CM VC in report mode: NOT_ACCEPTED, no handler', () => {
    const h = new Harness({ mode: 'sync', mcm, verifier: 'report' });
    const vc = h.createCmVc().vc!;
    h.log.length = 0;
    expect(h.ndis.coDeleteVc(h.cl_(vc))).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.log).toEqual([]);
    expect(h.ndis.vcInfo(vc)).toBeDefined();
    expect(h.violations()).toEqual(['ERR_CONDIS_E56']);
  });
});
