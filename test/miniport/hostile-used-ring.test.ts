// The miniport over a device whose used ring lies (wire backend): an impossible used entry on the
// pair of an active VC is found by the deactivation's own harvest (MiniportCoDeactivateVc services
// the pair first); the driver's queue stops with its code, the Device reports it as a 'ringError',
// and the miniport aborts the drain as it does for a queue the device failed: the deactivation
// completes with REQUEST_ABORTED and the code, every send completes (SEND_ABORTED), held receives
// stay returnable, and nothing leaks.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import type { CondisError } from '../../lib/errors';
import { condisCallParameters, type MiniportVc, VcState } from '../../lib/miniport';
import { NDIS_STATUS_PENDING, NDIS_STATUS_REQUEST_ABORTED, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { UsedRingError } from '../../lib/virtio';
import { RawRing } from '../helpers/device-ring';
import { frame } from '../helpers/frames';
import { guardSpin } from '../helpers/spin-guard';
import { waitUntil } from '../helpers/wait';
import { inOrder, makeRig, traceNames } from './harness';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

const Q = 64;
const VID = 42;

/** A wire pair: the miniport rig on a; on b a FramePort on pair 1 (VID 42) that sends and never posts. */
async function activeVc() {
  const [a, b] = openWirePair({ queuePairs: 3, queueSize: Q });
  open.push(a, b);
  const rig = makeRig(a);
  b.bindPair(1, VID);
  const peer = new FramePort(b, 1);
  b.onInterrupt = () => peer.poll();
  expect(await rig.client.connect(condisCallParameters(VID))).toBe(NDIS_STATUS_SUCCESS);
  const vc = rig.adapter.vcFor(rig.client.vc) as MiniportVc;
  const pair = vc.pair!;
  const guard = guardSpin([pair.rxq, pair.txq]);
  const aborts: CondisError[] = [];
  const resets: CondisError[] = [];
  rig.adapter.on('vcAbort', (e) => aborts.push(e));
  rig.adapter.on('queueReset', (e) => resets.push(e));
  // The client holds 5 receives; 100 sends: the peer posts no buffers, so 64 wait on the ring and
  // 36 in the software queue. The deactivation must wait for all of them.
  rig.client.hold = true;
  for (let i = 0; i < 5; i++) peer.send(frame(70, i));
  peer.flush();
  await waitUntil(() => rig.client.held.length === 5, 'held receives');
  rig.client.sendFrames(100, 0);
  await new Promise((r) => setTimeout(r, 5));
  expect(vc.txInFlight).toBe(100);
  return { a, b, rig, vc, pair, guard, aborts, resets };
}

describe('miniport: an impossible used entry on an active VC aborts its deactivation with the code', () => {
  it.each([
    {
      name: 'transmit used.idx past what was published',
      code: UsedRingError.IdxTooFar,
      queue: 'tx' as const,
      hostile: (raw: RawRing, u: number) => raw.setUsedIdx((u + Q + 1) & 0xffff),
    },
    {
      name: 'receive id returned twice (the buffer the client holds)',
      code: UsedRingError.IdRepeated,
      queue: 'rx' as const,
      hostile: (raw: RawRing, u: number) => {
        raw.used(u, raw.usedId(u - 1), 70);
        raw.setUsedIdx((u + 1) & 0xffff);
      },
    },
    {
      name: 'receive id never posted',
      code: UsedRingError.IdUnknown,
      queue: 'rx' as const,
      hostile: (raw: RawRing, u: number) => {
        raw.used(u, Q + 9, 70);
        raw.setUsedIdx((u + 1) & 0xffff);
      },
    },
  ])('$name -> $code', async (c) => {
    const { a, rig, vc, pair, guard, aborts, resets } = await activeVc();
    const { client, cm, ndis, adapter } = rig;
    const dq = c.queue === 'rx' ? pair.rxq : pair.txq;
    const raw = new RawRing(a.region.sab, dq.index);
    // Written and deactivated in one turn: no interrupt can service the pair in between.
    c.hostile(raw, dq.lastUsedIdx);
    const deact = cm.deactivate(client.vc);
    expect(deact.status).toBe(NDIS_STATUS_PENDING);
    expect(dq.broken?.code ?? c.code).toBe(c.code); // the receive queue may be stopped already
    let status: number | undefined;
    void deact.done.then((st) => {
      status = st;
    });
    await waitUntil(() => status !== undefined, 'the deactivation to complete');
    expect(status).toBe(NDIS_STATUS_REQUEST_ABORTED);
    expect(guard.calls).toBeLessThan(100);

    expect(aborts.map((e) => e.code)).toEqual([c.code]);
    expect(aborts[0]!.details).toMatchObject({ queue: dq.index, vid: VID, pair: pair.index, rxHeld: 5 });
    expect(resets).toEqual([]);
    expect(
      inOrder(traceNames(ndis, client.vc), [
        'MiniportCoDeactivateVc',
        'NdisMCoSendNetBufferListsComplete',
        'NdisMCoDeactivateVcComplete:REQUEST_ABORTED',
      ]),
    ).toBe(true);
    // Every send completed, with a failure status; the VC is Active again, its queues whole.
    await waitUntil(() => client.completed === 100, 'sends completed');
    expect(client.status('SEND_ABORTED')).toBe(100);
    expect(vc.state).toBe(VcState.Active);
    expect(ndis.vcInfo(client.vc)?.activation).toBe('ACTIVE');
    expect(pair.rxq.broken).toBeNull();
    expect(pair.txq.broken).toBeNull();
    // The held receives are still the client's to return; then the VC closes cleanly.
    expect(client.returnHeld()).toBe(5);
    expect(vc.rxHeld).toBe(0);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(client.given).toBe(client.completed);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    guard.restore();
  });

  it('on an active VC not being deactivated, the queue is reset and the VC carries on', async () => {
    const { a, b, rig, vc, pair, guard, aborts, resets } = await activeVc();
    const { client, adapter } = rig;
    // The transmit ring: a's device leaves it alone while the peer posts nothing.
    const raw = new RawRing(a.region.sab, pair.txq.index);
    raw.setUsedIdx((pair.txq.lastUsedIdx + Q + 1) & 0xffff);
    const peer = new FramePort(b, 1);
    peer.send(frame(70, 99)); // a frame arrives: a's interrupt services the pair and finds it
    peer.flush();
    await waitUntil(() => resets.length === 1, 'queueReset');
    expect(resets[0]!.code).toBe(UsedRingError.IdxTooFar);
    expect(resets[0]!.details).toMatchObject({ queue: pair.txq.index });
    expect(aborts).toEqual([]);
    expect(vc.state).toBe(VcState.Active);
    expect(pair.txq.broken).toBeNull();
    // The ring's 64 sends were aborted with the reset; the 36 queued behind them go out once
    // the peer posts buffers. The held receives (now 6) are still the client's.
    await waitUntil(() => client.completed === Q, 'sends on the ring aborted');
    expect(client.status('SEND_ABORTED')).toBe(Q);
    b.onInterrupt = () => peer.poll();
    peer.postRx();
    await waitUntil(() => client.completed === 100, 'the rest sent once the peer posts');
    expect(client.status('SUCCESS')).toBe(100 - Q);
    expect(client.returnHeld()).toBe(6);
    expect(guard.calls).toBeLessThan(1000);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(client.given).toBe(client.completed);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    guard.restore();
  });
});
