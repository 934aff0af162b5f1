/**
 * Regression (found by CONDIS_PROPERTY_RUNS=20000 under CI=true, fresh seed -867600229, sync,
 * mcm=false): ERR_CONDIS_E34, a close completed while its deactivation was still pending.
 *
 * The CM deactivated a connected call (§3.4 c) and pended; the miniport's last send completion
 * drained the VC, so NDIS made it INACTIVE and queued ProtocolCmDeactivateVcComplete for a later
 * turn. Before that turn the client asked for a QoS change: the CM re-activated the VC (A13) and
 * then, for the client's close, deactivated it again. The queued completion of the first
 * deactivation then reached the CM while the second was pending, and the CM took it for the
 * second one's and completed the close.
 *
 * The fault was the runtime's. Real NDIS calls ProtocolCmDeactivateVcComplete inside the call
 * that ends the drain, so the CM has heard the first deactivation end before it can issue the next
 * request; spec §2.5 I4 allows one activation or deactivation outstanding at a time, and the CM
 * could not tell two apart. condis-tap delivers completions in a later turn and let the next
 * request overtake it. NDIS now delivers what it has queued for a VC before it takes a new
 * activation, deactivation or deletion of that VC.
 */
import { describe, expect, it } from 'vitest';
import { makeCallParameters, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../../lib/ndis';
import { Harness, MODES_AND_MCM } from '../harness';
import { type Op, runInterleaving } from '../interleavings';

const COUNTEREXAMPLE: Op[] = [
  { t: 'sendsOnDeactivate', finish: true },
  { t: 'newIn', accept: true },
  { t: 'send', i: 0, n: 1 },
  { t: 'cmDeactivate', i: 0 },
  { t: 'complete', k: 1, abort: false },
  { t: 'qos', i: 0 },
  { t: 'send', i: 0, n: 1 },
  { t: 'close', i: 0 },
];

describe('regression: a queued deactivation completion overtaken by the next request', () => {
  it.each(MODES_AND_MCM)('the pinned counterexample keeps every invariant (%s, mcm=%s)', (mode, mcm) => {
    expect(runInterleaving(mode, mcm, COUNTEREXAMPLE)).toEqual([]);
  });

  it('the CM hears the deactivation complete before NDIS takes its next activation', () => {
    const h = new Harness({ mode: 'sync' });
    h.mp.sendsOnDeactivate = 'finish';
    const vc = h.incomingCall();
    h.send(h.cl_(vc), 1);
    expect(h.cm.deactivate(vc)).toBe(NDIS_STATUS_PENDING);
    h.mp.completeSends(); // the drain ends here: INACTIVE, the completion queued
    expect(h.info(vc).activation).toBe('INACTIVE');
    expect(h.count('CM.cmDeactivateVcComplete')).toBe(0);
    const mark = h.log.length;
    expect(h.cm.activate(vc, makeCallParameters())).toBe(NDIS_STATUS_SUCCESS);
    const order = h.log
      .slice(mark)
      .filter((e) => e === 'CM.cmDeactivateVcComplete:SUCCESS' || e === 'MP.coActivateVc');
    expect(order).toEqual(['CM.cmDeactivateVcComplete:SUCCESS', 'MP.coActivateVc']);
    h.settle();
    expect(h.count('CM.cmDeactivateVcComplete')).toBe(1);
    expect(h.violations()).toEqual([]);
  });
});
