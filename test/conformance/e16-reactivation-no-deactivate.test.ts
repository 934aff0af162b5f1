import { describe, expect, it } from 'vitest';
import { makeCallParameters } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E16: re-activating an ACTIVE VC calls MiniportCoActivateVc again with no intervening
// MiniportCoDeactivateVc.
describe.each(MODES)('E16 re-activation (%s)', (mode) => {
  it('calls MiniportCoActivateVc again, never MiniportCoDeactivateVc', () => {
    const h = new Harness({ mode });
    const vc = h.activeCmVc();
    const p2 = makeCallParameters({ flags: 0 });
    h.ndis.cmActivateVc(vc, p2);
    expect(h.info(vc).activation).toBe(mode === 'sync' ? 'ACTIVE' : 'REACTIVATING');
    h.settle();
    expect(h.log.filter((e) => e.startsWith('MP.'))).toEqual([
      'MP.coCreateVc',
      'MP.coActivateVc',
      'MP.coActivateVc',
    ]);
    expect(h.info(vc)).toMatchObject({ activation: 'ACTIVE', callParameters: p2 });
  });
});
