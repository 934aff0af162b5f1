/**
 * Regression (found by the interleavings property once it checked I2 at the client's close
 * completion; sync, mcm=true): a client that deleted its VC after the CM had completed its pended
 * close but before NDIS had delivered ProtocolClCloseCallComplete was allowed to, and then got
 * that completion for a VC it had deleted.
 *
 * The random client broke a rule (delete only once your close has completed, spec §1.2 D), but the
 * runtime is where it must be caught: condis-tap delivers the completion in a later turn (real NDIS
 * inside Ndis(M)CmCloseCallComplete), so its VC was already IDLE while the client still had a call
 * outstanding. NdisCoDeleteVc now answers NOT_ACCEPTED until the completion has been delivered,
 * the [POLICY] status for a call outstanding (spec §2.3).
 */
import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../../lib/ndis';
import { Harness, MODES, MODES_AND_MCM } from '../harness';
import { type Op, runInterleaving } from '../interleavings';

const COUNTEREXAMPLE: Op[] = [
  { t: 'newOut' },
  { t: 'indicate', i: 0, n: 1, res: false },
  { t: 'close', i: 0 },
  { t: 'return', k: 1 },
  { t: 'delete', i: 0 },
];

describe('regression: a client deleting its VC before it has heard its close complete', () => {
  it.each(MODES_AND_MCM)('the pinned counterexample keeps every invariant (%s, mcm=%s)', (mode, mcm) => {
    expect(runInterleaving(mode, mcm, COUNTEREXAMPLE)).toEqual([]);
  });

  // Over the harness's MCM the close completes inside the client's NdisReturnNetBufferLists (the
  // MCM's drain ends there), so the window between NDIS's IDLE and the delivery is reachable.
  it.each(MODES)('%s, MCM: NOT_ACCEPTED until the completion is delivered, then SUCCESS', (mode) => {
    const h = new Harness({ mode, mcm: true });
    const vc = h.outgoingCall();
    h.mp.indicate(h.mp_(vc), 1);
    expect(h.ndis.clCloseCall(vc)).toBe(NDIS_STATUS_PENDING);
    h.settle();
    h.cl.returnReceives();
    expect(h.info(vc).call).toBe('IDLE'); // NDIS: the call is closed ...
    expect(h.count('CL.clCloseCallComplete')).toBe(0); // ... the client: not yet told
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_NOT_ACCEPTED);
    expect(h.count('CM.coDeleteVc')).toBe(0);
    h.settle();
    expect(h.entries('CL.clCloseCallComplete')).toEqual(['CL.clCloseCallComplete:SUCCESS']);
    expect(h.ndis.coDeleteVc(vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(h.violations()).toEqual([]);
  });
});
