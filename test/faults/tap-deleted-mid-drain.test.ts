// Fault: the TAP is deleted (ip link del) while a deactivation drains — sends in flight (more
// than the ring holds, with the device's transmitter held by its test-only hold, so they are in
// flight whatever the scheduler does) and receives held by the client. The device reports
// ERR_CONDIS_BACKEND_LOST; the miniport aborts the drain: every NBL completes exactly once (SUCCESS
// if it was written before the delete, FAILURE or SEND_ABORTED after), the deactivation fails with
// REQUEST_ABORTED and the coded error, well within its deadline; the held receives come back
// whenever the client returns them, and the VC (ACTIVE again, spec A11) deactivates at once on a
// retry.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, openTap } from '../../lib/device';
import { condisCallParameters, VcState } from '../../lib/miniport';
import {
  makeNbl,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { frame, taggedHex } from '../helpers/frames';
import { ifExists, ifName, packetSend, quiet, sh, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';
import { inOrder, makeRig, traceNames } from '../miniport/harness';
import { abortsOf, expectEachCompletedOnce, timed } from './accounting';

const enabled = tapTestsEnabled('fault: TAP deleted mid-drain');
const DEADLINE_MS = 5000;
// More than the ring (256) holds, so some wait in the miniport's software queue too. Without the
// hold (Device.testHoldTx), MiniportCoDeactivateVc's harvest loop could complete every one of them
// while the JS thread is preempted between passes, leaving nothing in flight to catch (a burst of
// 3,000 once had 0 in flight at the fault, in CI under the other test files' load).
const BURST = 600;
let dev: Device | undefined;
let tap = '';
afterEach(() => {
  dev?.destroy();
  dev = undefined;
  if (tap) shQuiet('ip', ['link', 'del', tap]);
  tap = '';
});

describe.runIf(enabled)('fault: the TAP deleted in the middle of a drain', () => {
  it('every NBL completes once, the deactivation fails with ERR_CONDIS_BACKEND_LOST within its deadline', async () => {
    tap = ifName('cfd');
    dev = openTap({ name: tap, queuePairs: 3, queueSize: 256 });
    quiet(tap);
    const rig = makeRig(dev, { deactivationDeadlineMs: DEADLINE_MS });
    const { client, cm, adapter, ndis } = rig;
    expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const vc = adapter.vcFor(client.vc)!;
    const aborts = abortsOf(adapter);
    const lost: string[] = [];
    dev.on('backendLost', (e) => lost.push(e.code));
    // 8 receives held by the client.
    client.hold = true;
    packetSend(tap, taggedHex(70, 9, 42), 8);
    await waitUntil(() => client.held.length === 8, 'held receives');
    // The transmitter held: the ring fills (256) and the rest wait in the miniport's software
    // queue; nothing completes until the delete aborts them.
    dev.testHoldTx(true);
    const sent = Array.from({ length: BURST }, (_, i) => makeNbl(frame(1400, i)));
    client.sendNbls(sent);
    const deact = cm.deactivate(client.vc);
    expect(deact.status).toBe(NDIS_STATUS_PENDING);
    expect(vc.state).toBe(VcState.Draining);
    const inFlightAtFault = vc.txInFlight;
    expect(inFlightAtFault).toBe(BURST);
    expect(vc.counters.txQueued).toBeGreaterThan(0);
    expect(vc.rxHeld).toBe(8);
    const t0 = performance.now();
    sh('ip', ['link', 'del', tap]);
    expect(ifExists(tap)).toBe(false);
    tap = '';
    const end = await timed(deact.done);
    expect(end.status).toBe(NDIS_STATUS_REQUEST_ABORTED);
    expect(end.at - t0).toBeLessThan(DEADLINE_MS);
    expect(lost).toEqual(['ERR_CONDIS_BACKEND_LOST']);
    expect(aborts.map((a) => a.err.code)).toEqual(['ERR_CONDIS_BACKEND_LOST']);
    expect(aborts[0]!.err.details).toMatchObject({ vid: 42, rxHeld: 8 });
    expect(
      inOrder(traceNames(ndis, client.vc), [
        'NdisCmDeactivateVc',
        'MiniportCoDeactivateVc',
        'MiniportAbortVc',
        'NdisMCoDeactivateVcComplete:REQUEST_ABORTED',
        'ProtocolCmDeactivateVcComplete:REQUEST_ABORTED',
      ]),
    ).toBe(true);
    // Every send accounted for, each once; those the delete caught failed.
    await waitUntil(() => client.completed === BURST, 'every send completed');
    const byStatus = expectEachCompletedOnce(sent, client.completedNbls, [
      'SUCCESS',
      'FAILURE',
      'SEND_ABORTED',
    ]);
    expect((byStatus.FAILURE ?? 0) + (byStatus.SEND_ABORTED ?? 0)).toBeGreaterThan(0);
    // Exactly: what the device wrote to the TAP completed SUCCESS, what it failed FAILURE, and
    // only what never left the miniport or the ring SEND_ABORTED.
    const pair = dev.stats().pairs[vc.pair!.index]!;
    expect(byStatus.SUCCESS ?? 0).toBe(pair.txFrames);
    expect(byStatus.FAILURE ?? 0).toBe(pair.txErrors);
    expect(vc.txInFlight).toBe(0);
    // The held receives come back whenever the client gives them; nothing leaks.
    expect(client.returnHeld()).toBe(8);
    expect(vc.rxHeld).toBe(0);
    expect(ndis.vcInfo(client.vc)).toMatchObject({ activation: 'ACTIVE', txInMiniport: 0, rxHeld: 0 });
    // The VC is ACTIVE again (A11); a retried deactivation completes at once.
    expect(cm.deactivate(client.vc).status).toBe(NDIS_STATUS_SUCCESS);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.verifier.violations.map((v) => v.code)).toEqual([]);
  }, 30_000);
});
