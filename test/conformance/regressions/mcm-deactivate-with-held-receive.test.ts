/**
 * Regression (issue 9, `bash .ci/run`, property-interleavings "sync, mcm=true", seed -1152582098):
 * an MCM deactivating a VC while the client holds a receive must not let a send that arrives
 * meanwhile reach its queue and still be there when it reports the deactivation (E43).
 *
 * The fault was the harness's MCM, not the runtime. NdisMCmDeactivateVc returns a final status
 * (spec §1.2 C, §5 C3) and NDIS has no MCM callback to wait on (§5 C7), so until the MCM calls it
 * NDIS rightly sees the VC ACTIVE and forwards sends (§2.3). The drain is the MCM's own duty before
 * that call (§2.4 last bullet, §3.4: stop the VC on the NIC, complete every send it holds, wait for
 * every receive returned). The harness's MCM aborted the sends it held when it decided to
 * deactivate, then waited for the receive without stopping the VC: the send that came next sat in
 * its queue, and when the receive came back it called NdisMCmDeactivateVc with it outstanding.
 * The runtime's E43 was a true drain violation, and it handled it as documented (PENDING, VC kept
 * DEACTIVATING until the send came back, then ProtocolCmDeactivateVcComplete).
 */
import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_CLOSING, NDIS_STATUS_PENDING } from '../../../lib/ndis';
import { Harness, MODES, MODES_AND_MCM } from '../harness';
import { type Op, runInterleaving } from '../interleavings';

const COUNTEREXAMPLE: Op[] = [
  { t: 'newIn', accept: true },
  { t: 'indicate', i: 0, n: 1, res: false },
  { t: 'cmDeactivate', i: 0 },
  { t: 'send', i: 0, n: 1 },
  { t: 'return', k: 1 },
];

describe('regression: MCM deactivation with a held receive and a send arriving meanwhile', () => {
  it.each(MODES_AND_MCM)('the pinned counterexample keeps every invariant (%s, mcm=%s)', (mode, mcm) => {
    expect(runInterleaving(mode, mcm, COUNTEREXAMPLE)).toEqual([]);
  });

  it.each(MODES)('%s: the MCM refuses the send while it drains and reports only when drained', (mode) => {
    const h = new Harness({ mode, mcm: true }); // verifier 'throw': an E43 would throw here
    const vc = h.incomingCall();
    const [rx] = h.mp.indicate(h.mp_(vc), 1);
    expect(h.cm.deactivate(vc)).toBe(NDIS_STATUS_PENDING); // waiting for the receive
    expect(h.info(vc).activation).toBe('ACTIVE'); // NDIS learns of it only at NdisMCmDeactivateVc

    const [tx] = h.send(h.cl_(vc), 1);
    expect(h.mp.held).toEqual([]); // completed at once, never queued
    h.settle();
    expect(h.cl.completed).toEqual([tx]);
    expect(tx!.status).toBe(NDIS_STATUS_CLOSING);
    expect(h.info(vc).activation).toBe('ACTIVE'); // still waiting for the receive

    h.cl.returnReceives();
    expect(h.mp.returned).toContain(rx);
    expect(h.info(vc)).toMatchObject({ activation: 'INACTIVE', txInMiniport: 0, rxHeld: 0 });
    h.settle();
    expect(h.violations()).toEqual([]);
    expect(h.cl.completed).toEqual([tx]); // exactly once
  });
});
