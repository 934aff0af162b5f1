import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E68: no framework callback blocks waiting for another completion: every flow works with every
// step pending, and no completion is delivered inside the call that caused it.
describe.each([[false], [true]])('E68 everything pending (mcm=%s)', (mcm) => {
  it('outgoing and incoming calls, QoS, data, close, delete', () => {
    const h = new Harness({ mode: 'async', mcm });
    const { vc } = h.createClientVc();
    const completionsBefore = () => h.log.filter((e) => e.includes('Complete')).length;
    let n = completionsBefore();
    expect(h.ndis.clMakeCall(vc!, makeCallParameters())).toBe(NDIS_STATUS_PENDING);
    expect(completionsBefore()).toBe(n);
    h.settle();
    expect(h.info(vc!).call).toBe('CONNECTED');

    n = completionsBefore();
    expect(h.ndis.clModifyCallQoS(vc!, makeCallParameters())).toBe(NDIS_STATUS_PENDING);
    expect(completionsBefore()).toBe(n);
    h.settle();

    h.send(vc!, 2);
    h.mp.indicate(h.mp_(vc!), 2);
    h.mp.completeSends();
    h.cl.returnReceives();
    n = completionsBefore();
    expect(h.ndis.clCloseCall(vc!)).toBe(NDIS_STATUS_PENDING);
    expect(completionsBefore()).toBe(n);
    h.settle();
    expect(h.info(vc!)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE' });
    expect(h.ndis.coDeleteVc(vc!)).toBe(NDIS_STATUS_SUCCESS);

    const inc = h.incomingCall();
    h.closeCall(h.cl_(inc));
    expect(h.cm.deleteVc(inc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.ndis.vcCount).toBe(0);
    expect(h.violations()).toEqual([]);
    expect(h.ndis.pendingDeliveries).toBe(0);
  });
});
