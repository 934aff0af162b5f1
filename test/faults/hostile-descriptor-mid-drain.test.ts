// Fault: a hostile descriptor written while a deactivation drains. A's sends are stalled on the
// transmit ring by the wire's flow control (the peer posted no receive buffer), 36 more wait in the
// miniport's software queue, and the client holds receives; the driver side then scribbles over
// the chain the device is waiting to send (its descriptor points outside the pool, or its avail
// entry names a descriptor beyond the table). When the peer posts buffers the device takes that
// chain again, finds it hostile, puts only that queue in NEEDS_RESET and says why; the miniport
// aborts the drain: every send completes exactly once (SEND_ABORTED: none of them left), the
// deactivation fails with REQUEST_ABORTED and the ring error's code, at once, not at the
// deadline. The queue is reset and the VC (ACTIVE again, A11) carries traffic again.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import { condisCallParameters, VcState } from '../../lib/miniport';
import {
  makeNbl,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { QueueState } from '../../lib/virtio/layout';
import { frame } from '../helpers/frames';
import { availEntry, usedIdx, writeDesc } from '../helpers/raw-ring';
import { waitUntil } from '../helpers/wait';
import { makeRig } from '../miniport/harness';
import { abortsOf, expectEachCompletedOnce, timed } from './accounting';

const DEADLINE_MS = 5000;
const SENDS = 100;
const HELD = 8;

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

const cases: Array<{ name: string; code: string; corrupt: (a: Device, q: number) => void }> = [
  {
    name: 'its descriptor points outside the buffer pool',
    code: 'ERR_CONDIS_RING_DESC_OUT_OF_POOL',
    corrupt: (a, q) => {
      const { head } = availEntry(a.region, q, usedIdx(a.region, q));
      writeDesc(a.region, q, head, 2 ** 40, 64, 0, 0);
    },
  },
  {
    name: 'its avail entry names a descriptor beyond the table',
    code: 'ERR_CONDIS_RING_HEAD_OUT_OF_RANGE',
    corrupt: (a, q) => {
      const { off } = availEntry(a.region, q, usedIdx(a.region, q));
      a.region.dv.setUint16(off, a.region.queueSize + 7, true);
    },
  },
];

describe('fault: a hostile descriptor written while a deactivation drains', () => {
  it.each(cases)('$name: aborted at once with $code, every NBL accounted for', async ({ code, corrupt }) => {
    const [a, b] = openWirePair({ queuePairs: 3, queueSize: 64 });
    open.push(a, b);
    const rig = makeRig(a, { deactivationDeadlineMs: DEADLINE_MS });
    const { client, cm, adapter, ndis } = rig;
    b.bindPair(1, 42);
    const peer = new FramePort(b, 1);
    const seen: number[] = [];
    peer.onFrame = (bytes, off) => seen.push(bytes[off + 17]!);
    b.onInterrupt = () => peer.poll();
    expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const vc = adapter.vcFor(client.vc)!;
    const aborts = abortsOf(adapter);
    client.hold = true;
    for (let i = 0; i < HELD; i++) peer.send(frame(70, 500 + i));
    peer.flush();
    await waitUntil(() => client.held.length === HELD, 'held receives');
    const sent = Array.from({ length: SENDS }, (_, i) => makeNbl(frame(64, i)));
    client.sendNbls(sent);
    await new Promise((r) => setTimeout(r, 20));
    expect(vc.txInFlight).toBe(SENDS);
    const deact = cm.deactivate(client.vc);
    expect(deact.status).toBe(NDIS_STATUS_PENDING);
    expect(vc.state).toBe(VcState.Draining);
    // The driver side turns hostile while the drain waits, then the peer takes frames again.
    const txq = vc.pair!.txq.index;
    corrupt(a, txq);
    const t0 = performance.now();
    peer.postRx();
    const end = await timed(deact.done);
    expect(end.status).toBe(NDIS_STATUS_REQUEST_ABORTED);
    expect(end.at - t0).toBeLessThan(1000); // at once: the ring error, not the deadline
    expect(aborts.map((x) => x.err.code)).toEqual([code]);
    expect(aborts[0]!.err.details).toMatchObject({ vid: 42, queue: txq, txAborted: SENDS, rxHeld: HELD });
    // Not one frame left: the hostile chain was the first the device had to send.
    expect(a.stats().pairs[1]!.txFrames).toBe(0);
    expect(seen).toEqual([]);
    await waitUntil(() => client.completed === SENDS, 'every send completed');
    expect(expectEachCompletedOnce(sent, client.completedNbls, ['SEND_ABORTED'])).toEqual({
      SEND_ABORTED: SENDS,
    });
    // Only that queue broke, and it was reset: ready again.
    expect(a.stats().pairs[1]!.txState).toBe(QueueState.Ready);
    expect(vc.state).toBe(VcState.Active);
    expect(ndis.vcInfo(client.vc)?.activation).toBe('ACTIVE');
    // The VC carries traffic again (the hostile descriptor is gone with the reset).
    const more = Array.from({ length: 10 }, (_, i) => makeNbl(frame(64, 200 + i)));
    client.sendNbls(more);
    await waitUntil(() => client.completed === SENDS + 10, 'sends after the reset');
    expect(more.every((p) => p.status === NDIS_STATUS_SUCCESS)).toBe(true);
    expect(seen).toHaveLength(10);
    expect(client.returnHeld()).toBe(HELD);
    expect(cm.deactivate(client.vc).status).toBe(NDIS_STATUS_SUCCESS);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.verifier.codes()).toEqual([]);
  });
});
