/**
 * Regression (found by the interleavings property once it checked I2 at the client's close
 * completion; sync, mcm=true): the MCM completed the client's pended close from inside the
 * client's NdisReturnNetBufferLists (its drain ended there); the client then deleted its VC, and
 * NDIS delivered ProtocolClCloseCallComplete afterwards, for a VC already deleted.
 *
 * The fault was the runtime's. Real NDIS calls ProtocolClCloseCallComplete inside
 * NdisMCmCloseCallComplete, so by real NDIS the client had its completion before it deleted (spec
 * §1.2 D: delete once the close has completed). condis-tap delivers it in a later turn (no
 * completion re-entrantly, §4.3 policy), and the deletion overtook it. A deletion now delivers what
 * NDIS has queued first.
 */
import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../../lib/ndis';
import { Harness, MODES, MODES_AND_MCM } from '../harness';
import { type Op, runInterleaving } from '../interleavings';

const COUNTEREXAMPLE: Op[] = [
  { t: 'newOut' },
  { t: 'indicate', i: 0, n: 1, res: false },
  { t: 'close', i: 0 },
  { t: 'return', k: 1 },
  { t: 'delete', i: 0 },
];

describe('regression: a client deleting its VC before NDIS delivered its close completion', () => {
  it.each(MODES_AND_MCM)('the pinned counterexample keeps every invariant (%s, mcm=%s)', (mode, mcm) => {
    expect(runInterleaving(mode, mcm, COUNTEREXAMPLE)).toEqual([]);
  });

  // Over the harness's MCM the close completes inside the client's NdisReturnNetBufferLists, so
  // the window between NDIS's IDLE and the delivery is reachable from outside.
  it.each(MODES)('%s, MCM: the close completion reaches the client before its deletion', (mode) => {
    const h = new Harness({ mode, mcm: true });
    const vc = h.outgoingCall();
    h.mp.indicate(h.mp_(vc), 1);
    expect(h.ndis.clCloseCall(vc)).toBe(NDIS_STATUS_PENDING);
    h.settle();
    h.cl.returnReceives();
    expect(h.info(vc).call).toBe('IDLE'); // NDIS: the call is closed ...
    expect(h.count('CL.clCloseCallComplete')).toBe(0); // ... and the completion is still queued
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log.filter((e) => /^CL\.clCloseCallComplete|^CM\.coDeleteVc/.test(e))).toEqual([
      'CL.clCloseCallComplete:SUCCESS',
      'CM.coDeleteVc',
    ]);
    h.settle();
    expect(h.count('CL.clCloseCallComplete')).toBe(1);
    expect(h.violations()).toEqual([]);
  });
});
