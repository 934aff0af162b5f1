/**
 * Regressions (found by the interleavings property once it checked that nothing reaches a driver
 * for a deleted VC): a deletion overtook completions NDIS had queued for the VC, which then reached
 * their driver after the VC was gone.
 *
 * - sync: the client closed its call, sent once more on the closed VC (NDIS refuses it: the
 *   completion, VC_NOT_ACTIVATED, is queued), deleted the VC, and then got
 *   ProtocolCoSendNetBufferListsComplete for the deleted VC.
 * - async, MCM: the client rejected an offer (NdisClIncomingCallComplete), the MCM deactivated and
 *   deleted its VC, and then got ProtocolCmIncomingCallComplete for the deleted VC.
 *
 * The fault was the runtime's: real NDIS completes inside the call that finishes the request (the
 * refused send's completion comes before the client can delete; ProtocolCmIncomingCallComplete
 * inside NdisClIncomingCallComplete), so these drivers had every completion before they deleted.
 * condis-tap delivers completions in a later turn (§4.3 policy) and its deletion (spec §1.2 D)
 * overtook them. A deletion now delivers what NDIS has queued first.
 */
import { describe, expect, it } from 'vitest';
import {
  makeCallParameters,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
} from '../../../lib/ndis';
import { Harness, MODES_AND_MCM } from '../harness';
import { type Op, runInterleaving } from '../interleavings';

const SEND_ON_CLOSED_VC_THEN_DELETE: Op[] = [
  { t: 'newOut' },
  { t: 'close', i: 0 },
  { t: 'send', i: 0, n: 1 },
  { t: 'delete', i: 0 },
];

const REJECTED_OFFER_DELETED_BEFORE_CM_HEARS: Op[] = [
  { t: 'newIn', accept: false },
  { t: 'turns', k: 1 },
  { t: 'delete', i: 0 },
  { t: 'delete', i: 0 },
];

describe('regression: nothing reaches a driver for a VC after its deletion', () => {
  it.each(MODES_AND_MCM)('a refused send, then delete (%s, mcm=%s)', (mode, mcm) => {
    expect(runInterleaving(mode, mcm, SEND_ON_CLOSED_VC_THEN_DELETE)).toEqual([]);
  });

  it.each(MODES_AND_MCM)('a rejected offer deleted by the CM (%s, mcm=%s)', (mode, mcm) => {
    expect(runInterleaving(mode, mcm, REJECTED_OFFER_DELETED_BEFORE_CM_HEARS)).toEqual([]);
  });

  it('the client gets its refused send back before NdisCoDeleteVc returns', () => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.outgoingCall();
    expect(h.closeCall(vc)).toBe(NDIS_STATUS_SUCCESS);
    const [nbl] = h.send(vc, 1); // refused: the VC is inactive
    expect(h.cl.completed).toEqual([]); // queued for a later turn
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.cl.completed).toEqual([nbl]);
    expect(nbl!.status).toBe(NDIS_STATUS_VC_NOT_ACTIVATED);
    h.settle();
    expect(h.cl.completed).toEqual([nbl]); // once
  });

  it('the MCM hears the rejection before its NdisMCmDeleteVc returns', () => {
    const h = new Harness({ mode: 'async', mcm: true });
    h.cl.offerAnswer = NDIS_STATUS_NOT_SUPPORTED;
    const vc = h.activeCmVc();
    h.cm.dispatchIncomingCall(vc, makeCallParameters());
    h.sched.runNext(); // the client's answer: NDIS is IDLE, the MCM's completion still queued
    expect(h.info(vc).call).toBe('IDLE');
    expect(h.count('CM.cmIncomingCallComplete')).toBe(0);
    expect(h.cm.deactivate(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.cm.deleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log.filter((e) => /^CM\.cmIncomingCallComplete|^CL\.coDeleteVc/.test(e))).toEqual([
      'CM.cmIncomingCallComplete:NOT_SUPPORTED',
      'CL.coDeleteVc',
    ]);
  });
});
