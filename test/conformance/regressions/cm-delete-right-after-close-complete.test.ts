/**
 * Regression (found by the interleavings property once it checked I2 at the client's close
 * completion; async, mcm=true): a CM that deletes the VC it created right after completing the
 * client's pended close (allowed: spec §1.2 D, §3.4 b) made NDIS call the client's
 * ProtocolCoDeleteVc first and its ProtocolClCloseCallComplete afterwards, on a VC already gone.
 *
 * The fault was the runtime's. Real NDIS calls ProtocolClCloseCallComplete inside
 * Ndis(M)CmCloseCallComplete; condis-tap delivers it in a later turn (spec §4.3 policy: no
 * completion re-entrantly), and NdisCoDeleteVc / NdisMCmDeleteVc, which the CM may call once the
 * call is IDLE (spec §1.2 D, A14), overtook the queued completion. NDIS now delivers what it has
 * queued before the deletion's ProtocolCoDeleteVc. (lib/cm deleted "later" to dodge exactly this.)
 */
import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS, type NdisStatus, type NdisVcHandle } from '../../../lib/ndis';
import { Harness, MODES_AND_MCM } from '../harness';
import { type Op, runInterleaving } from '../interleavings';

const COUNTEREXAMPLE: Op[] = [
  { t: 'newIn', accept: true },
  { t: 'turns', k: 2 },
  { t: 'close', i: 0 },
  { t: 'turns', k: 1 },
  { t: 'delete', i: 0 },
];

describe('regression: a CM deleting its VC right after completing the close', () => {
  it.each(MODES_AND_MCM)('the pinned counterexample keeps every invariant (%s, mcm=%s)', (mode, mcm) => {
    expect(runInterleaving(mode, mcm, COUNTEREXAMPLE)).toEqual([]);
  });

  it.each(MODES_AND_MCM)('%s, mcm=%s: the client hears the close complete before the delete', (mode, mcm) => {
    const h = new Harness({ mode, mcm });
    const vc = h.incomingCall();
    h.mp.indicate(h.mp_(vc), 1); // held: the close (its deactivation) pends until it comes back
    // The CM deletes in the same breath as it completes the close.
    const deleted: NdisStatus[] = [];
    const name = mcm ? 'mCmCloseCallComplete' : 'cmCloseCallComplete';
    const complete = h.ndis[name].bind(h.ndis);
    h.ndis[name] = (status: NdisStatus, v: NdisVcHandle) => {
      complete(status, v);
      deleted.push(h.cm.deleteVc(v));
    };
    expect(h.ndis.clCloseCall(h.cl_(vc))).not.toBe(NDIS_STATUS_SUCCESS); // pended
    h.settle();
    h.cl.returnReceives();
    h.settle();
    expect(deleted).toEqual([NDIS_STATUS_SUCCESS]);
    expect(h.entries('CL.c').filter((e) => /clCloseCallComplete|coDeleteVc/.test(e))).toEqual([
      'CL.clCloseCallComplete:SUCCESS',
      'CL.coDeleteVc',
    ]);
    expect(h.violations()).toEqual([]);
  });
});
