// Fault: the far end of the wire is destroyed while a deactivation drains — sends in flight held on
// the transmit ring by the wire's flow control (the peer posted no receive buffer) and in the
// miniport's software queue, receives held by the client. Every stalled send completes at once,
// exactly once, with FAILURE (the device's PeerGone); the drain then waits only for what the
// client holds: returned, the deactivation completes SUCCESS; kept past the deadline, NDIS aborts
// it with ERR_CONDIS_DRAIN_TIMEOUT at its deadline. Either way nothing leaks and the VC closes.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import { condisCallParameters, VcState } from '../../lib/miniport';
import {
  makeNbl,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { frame } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';
import { makeRig } from '../miniport/harness';
import { abortsOf, expectEachCompletedOnce, timed } from './accounting';

const DEADLINE_MS = 1500;
const SENDS = 100;
const HELD = 8;

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

/** A drain in progress: SENDS sends stalled (64 on the ring, the rest queued), HELD receives held. */
async function drainInProgress() {
  const [a, b] = openWirePair({ queuePairs: 3, queueSize: 64 });
  open.push(a, b);
  const rig = makeRig(a, { deactivationDeadlineMs: DEADLINE_MS });
  b.bindPair(1, 42);
  const peer = new FramePort(b, 1);
  b.onInterrupt = () => peer.poll();
  const { client, cm, adapter } = rig;
  expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
  const vc = adapter.vcFor(client.vc)!;
  client.hold = true;
  for (let i = 0; i < HELD; i++) peer.send(frame(70, 500 + i));
  peer.flush();
  await waitUntil(() => client.held.length === HELD, 'held receives');
  // The peer has no receive buffer: the wire holds A's frames on A's transmit ring.
  const sent = Array.from({ length: SENDS }, (_, i) => makeNbl(frame(64, i)));
  client.sendNbls(sent);
  await new Promise((r) => setTimeout(r, 20));
  expect(a.stats().pairs[1]!.txFrames).toBe(0);
  expect(vc.txInFlight).toBe(SENDS);
  expect(vc.counters.txQueued).toBeGreaterThan(0); // some wait in the software queue too
  const aborts = abortsOf(adapter);
  const deact = cm.deactivate(client.vc);
  expect(deact.status).toBe(NDIS_STATUS_PENDING);
  expect(vc.state).toBe(VcState.Draining);
  expect([vc.txInFlight, vc.rxHeld]).toEqual([SENDS, HELD]);
  return { a, b, rig, vc, sent, deact, aborts };
}

describe('fault: the wire peer destroyed in the middle of a drain', () => {
  it('every stalled send fails once at once; the drain completes SUCCESS when the held receives come back', async () => {
    const { a, b, rig, vc, sent, deact, aborts } = await drainInProgress();
    const { client, ndis, adapter } = rig;
    const t0 = performance.now();
    b.destroy();
    await waitUntil(() => client.completed === SENDS, 'every stalled send completed');
    const byStatus = expectEachCompletedOnce(sent, client.completedNbls, ['FAILURE']);
    expect(byStatus).toEqual({ FAILURE: SENDS });
    expect(a.stats().pairs[1]!.txErrors).toBe(SENDS);
    // The drain waits for the client alone now.
    expect(vc.state).toBe(VcState.Draining);
    expect(ndis.vcInfo(client.vc)).toMatchObject({
      activation: 'DEACTIVATING',
      txInMiniport: 0,
      rxHeld: HELD,
    });
    expect(client.returnHeld()).toBe(HELD);
    const end = await timed(deact.done);
    expect(end.status).toBe(NDIS_STATUS_SUCCESS);
    expect(end.at - t0).toBeLessThan(DEADLINE_MS);
    expect(aborts).toEqual([]);
    expect(vc.state).toBe(VcState.Inactive);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.verifier.codes()).toEqual([]);
  });

  it('receives kept past the deadline: aborted with ERR_CONDIS_DRAIN_TIMEOUT at its deadline, nothing lost', async () => {
    const { a, b, rig, vc, sent, deact, aborts } = await drainInProgress();
    const { client, cm, ndis, adapter } = rig;
    const t0 = performance.now();
    b.destroy();
    const end = await timed(deact.done);
    expect(end.status).toBe(NDIS_STATUS_REQUEST_ABORTED);
    // NDIS's deadline counts from NdisCmDeactivateVc, a moment before t0.
    expect(end.at - t0).toBeGreaterThan(DEADLINE_MS - 100);
    expect(end.at - t0).toBeLessThan(DEADLINE_MS + 1000);
    expect(aborts.map((x) => x.err.code)).toEqual(['ERR_CONDIS_DRAIN_TIMEOUT']);
    expect(aborts[0]!.err.details).toMatchObject({ vid: 42, txAborted: 0, rxHeld: HELD });
    expect(ndis.verifier.codes()).toEqual(['ERR_CONDIS_DRAIN_TIMEOUT']);
    const byStatus = expectEachCompletedOnce(sent, client.completedNbls, ['FAILURE']);
    expect(byStatus).toEqual({ FAILURE: SENDS });
    expect(a.stats().pairs[1]!.txErrors).toBe(SENDS);
    // ACTIVE again (A11); the receives come back whenever the client gives them.
    expect(vc.state).toBe(VcState.Active);
    expect(client.returnHeld()).toBe(HELD);
    expect([vc.txInFlight, vc.rxHeld]).toEqual([0, 0]);
    expect(cm.deactivate(client.vc).status).toBe(NDIS_STATUS_SUCCESS);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
  });
});
