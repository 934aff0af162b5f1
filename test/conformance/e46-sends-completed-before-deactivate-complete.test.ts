import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SEND_ABORTED, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E46: every NBL that was inside the miniport when deactivation began is completed to the sender
// (any status) before ProtocolCmDeactivateVcComplete is called.
describe.each(MODES)('E46 in-flight sends complete before the deactivation (%s)', (mode) => {
  it('sender completions precede ProtocolCmDeactivateVcComplete', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    const nbls = h.send(vc, 3);
    h.mp.completeSends(NDIS_STATUS_SUCCESS, 1); // one already on the wire
    h.mp.indicate(h.mp_(vc), 1); // keeps the deactivation pending in sync mode as well
    expect(h.ndis.cmDeactivateVc(h.cm_(vc))).toBe(NDIS_STATUS_PENDING);
    h.settle();
    h.cl.returnReceives();
    h.settle();
    expect(h.cl.completed).toEqual(nbls);
    expect(nbls.map((n) => n.status)).toEqual([
      NDIS_STATUS_SUCCESS,
      NDIS_STATUS_SEND_ABORTED,
      NDIS_STATUS_SEND_ABORTED,
    ]);
    const lastSend = h.log.lastIndexOf(
      h.log.filter((e) => e.startsWith('CL.coSendNetBufferListsComplete')).at(-1)!,
    );
    expect(lastSend).toBeLessThan(h.log.indexOf('CM.cmDeactivateVcComplete:SUCCESS'));
  });

  it('also when the miniport asks to complete on drain before it hands the sends back', () => {
    const h = new Harness({ mode });
    const vc = h.outgoingCall();
    const nbls = h.send(vc, 2);
    h.mp.deactivateBehaviour = 'hang';
    expect(h.ndis.cmDeactivateVc(h.cm_(vc))).toBe(NDIS_STATUS_PENDING);
    h.ndis.mCoDeactivateVcCompleteWhenDrained(h.mp_(vc));
    h.settle();
    expect(h.info(vc).activation).toBe('DEACTIVATING');
    h.mp.completeSends(NDIS_STATUS_SEND_ABORTED); // the last release completes the stop
    h.settle();
    expect(h.cl.completed).toEqual(nbls);
    expect(h.log.slice(-2)).toEqual([
      'CL.coSendNetBufferListsComplete:SEND_ABORTED,SEND_ABORTED',
      'CM.cmDeactivateVcComplete:SUCCESS',
    ]);
  });
});
