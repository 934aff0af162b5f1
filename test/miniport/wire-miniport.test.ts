// The CoNDIS miniport over the wire backend (no privileges): device A carries the miniport, its
// call manager and a NBL-level client; device B plays the far end with a FramePort on the pair
// bound to the VC's VID.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import type { CondisError } from '../../lib/errors';
import { condisCallParameters, type MiniportVc, UNTAGGED_VID, VcState } from '../../lib/miniport';
import {
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { frame, seqOf } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';
import { inOrder, makeRig, type Rig, TestClient, traceNames } from './harness';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

/** A wire pair, the rig on A, and on B a FramePort on pair 1 bound to `vid` (posting if `post`). */
function setup(vid: number, opts: { queueSize?: number; post?: boolean; deadlineMs?: number } = {}) {
  const [a, b] = openWirePair({ queuePairs: 3, queueSize: opts.queueSize ?? 64 });
  open.push(a, b);
  const rig = makeRig(a, opts.deadlineMs ? { deactivationDeadlineMs: opts.deadlineMs } : {});
  b.bindPair(1, vid);
  const peer = new FramePort(b, 1);
  const seen: number[] = [];
  peer.onFrame = (bytes, off) => seen.push(seqOf(bytes, off));
  b.onInterrupt = () => peer.poll();
  if (opts.post ?? true) peer.postRx();
  return { a, b, rig, peer, seen };
}

function vcOf(rig: Rig): MiniportVc {
  const vc = rig.adapter.vcFor(rig.client.vc);
  if (!vc) throw new Error('no miniport VC');
  return vc;
}

/** The peer sends `n` frames with seq from `first`. */
function peerSend(peer: FramePort, n: number, first: number): void {
  for (let i = 0; i < n; i++) if (!peer.send(frame(70, first + i))) throw new Error('peer ring full');
  peer.flush();
}

describe('CoNDIS miniport on the wire backend', () => {
  it('an activated VC carries frames both ways with exact counts', async () => {
    const { rig, peer, seen } = setup(42);
    expect(await rig.client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const vc = vcOf(rig);
    expect(vc.state).toBe(VcState.Active);
    expect(vc.pair?.index).toBe(1);
    rig.client.sendFrames(50, 0);
    rig.client.sendFrames(50, 50);
    await waitUntil(() => seen.length === 100 && rig.client.completed === 100, '100 frames out');
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(rig.client.status('SUCCESS')).toBe(100);
    peerSend(peer, 40, 1000);
    await waitUntil(() => rig.client.rxFrames === 40, '40 frames in');
    expect(rig.client.rxSeqs).toEqual(Array.from({ length: 40 }, (_, i) => 1000 + i));
    expect(rig.client.returned).toBe(40);
    expect(vc.counters.rxReturned).toBe(40);
    expect(vc.txInFlight).toBe(0);
    expect(vc.rxHeld).toBe(0);
    expect(await rig.client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
  });

  it('deactivation under traffic pends until sends complete and held receives return, then the VID is dropped; re-activation carries traffic again', async () => {
    const { a, b, rig, peer, seen } = setup(42, { post: false });
    const { client, cm, ndis, adapter } = rig;
    expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const vc = vcOf(rig);
    // The client holds 16 receives.
    client.hold = true;
    peerSend(peer, 16, 500);
    await waitUntil(() => client.held.length === 16, '16 held receives');
    // 40 sends stall on the wire: the peer posted no receive buffer yet.
    client.sendFrames(40, 0);
    await waitUntil(() => vc.counters.txCopied === 40, 'sends on the ring');
    expect(vc.txInFlight).toBe(40);
    ndis.trace?.clear();
    const deact = cm.deactivate(client.vc);
    expect(deact.status).toBe(NDIS_STATUS_PENDING);
    expect(vc.state).toBe(VcState.Draining);
    let done = false;
    void deact.done.then(() => (done = true));
    // The far end starts taking frames: every send completes, the deactivation still waits.
    peer.postRx();
    await waitUntil(() => client.completed === 40, 'sends completed during the drain');
    expect(client.status('SUCCESS')).toBe(40);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // Frames arriving while draining are not indicated: the miniport stopped the pair's receive
    // queue as the deactivation began, so the device drops them (counted as that pair's rxNoBuffer).
    const indicationsBefore = client.indications;
    const pairIndex = vc.pair!.index;
    const noBuffer = () => a.stats().pairs[pairIndex]!.rxNoBuffer;
    const noBufferBefore = noBuffer();
    peerSend(peer, 5, 900);
    await waitUntil(() => noBuffer() - noBufferBefore === 5, 'frames dropped while draining');
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    expect(vc.state).toBe(VcState.Draining);
    expect(ndis.vcInfo(client.vc)?.deactivationPending).toBe(true);
    // The last return completes it.
    expect(client.returnHeld()).toBe(16);
    expect(await deact.done).toBe(NDIS_STATUS_SUCCESS);
    expect(client.indications).toBe(indicationsBefore);
    expect(vc.state).toBe(VcState.Inactive);
    expect(ndis.vcInfo(client.vc)?.activation).toBe('INACTIVE');
    const names = traceNames(ndis, client.vc);
    expect(
      inOrder(names, [
        'NdisCmDeactivateVc',
        'MiniportCoDeactivateVc',
        'NdisMCoSendNetBufferListsComplete',
        'ProtocolCoSendNetBufferListsComplete',
        'NdisReturnNetBufferLists',
        'MiniportReturnNetBufferLists',
        'NdisMCoDeactivateVcComplete:SUCCESS',
        'ProtocolCmDeactivateVcComplete:SUCCESS',
      ]),
    ).toBe(true);
    expect(names.filter((n) => n.startsWith('NdisMCoIndicateReceiveNetBufferLists'))).toEqual([]);
    expect(names.filter((n) => n.startsWith('MiniportCoDeactivateVc'))).toHaveLength(1);
    // Nothing is indicated on the VC any more: the device drops its VID.
    const dropsBefore = a.stats().rxUnboundVid;
    peerSend(peer, 7, 950);
    await waitUntil(() => a.stats().rxUnboundVid - dropsBefore === 7, 'unbound-VID drops');
    expect(client.indications).toBe(indicationsBefore);
    // Every buffer is back.
    expect(adapter.poolCounts()).toEqual({ ...adapter.poolCounts(), free: adapter.poolCounts().capacity });
    expect(adapter.poolCounts().freePairs).toBe(2);
    // Re-activation with a fresh parameter set on another VID: traffic again.
    b.unbindPair(1);
    b.bindPair(1, 43);
    client.hold = false;
    expect(await cm.activate(client.vc, condisCallParameters(43))).toBe(NDIS_STATUS_SUCCESS);
    expect(vc.state).toBe(VcState.Active);
    expect(vc.vid).toBe(43);
    client.sendFrames(30, 100);
    peerSend(peer, 12, 2000);
    await waitUntil(() => seen.length === 70 && client.rxFrames === 16 + 12, 'traffic after re-activation');
    expect(seen.slice(40)).toEqual(Array.from({ length: 30 }, (_, i) => 100 + i));
    await waitUntil(() => client.completed === 70, 'completions');
    // Every NBL accounted for.
    expect(client.completed).toBe(client.given);
    expect(client.returned).toBe(client.rxFrames);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  });

  it('a re-activation keeps the pair; a failed one keeps the old parameters', async () => {
    const { rig, seen } = setup(42);
    const { client, cm } = rig;
    expect(await client.connect(condisCallParameters(42, { maxSduSize: 1000 }))).toBe(NDIS_STATUS_SUCCESS);
    const vc = vcOf(rig);
    const pair = vc.pair;
    const before = vc.params;
    expect(await cm.activate(client.vc, condisCallParameters(42, { maxSduSize: 1500 }))).toBe(
      NDIS_STATUS_SUCCESS,
    );
    expect(vc.pair).toBe(pair);
    expect(vc.maxFrame).toBe(1500);
    expect(vc.params).not.toBe(before);
    const good = vc.params;
    // Another VID on an active VC is refused: the old parameters stay in force.
    expect(await cm.activate(client.vc, condisCallParameters(99))).toBe(NDIS_STATUS_INVALID_DATA);
    expect(vc.params).toBe(good);
    expect(vc.vid).toBe(42);
    expect(rig.ndis.vcInfo(client.vc)?.activation).toBe('ACTIVE');
    client.sendFrames(10, 0);
    await waitUntil(
      () => seen.length === 10 && client.completed === 10,
      'traffic after the failed re-activation',
    );
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
  });

  it('an NBL that lives in ring memory is sent without a copy', async () => {
    const { rig, seen } = setup(42);
    const { client, adapter } = rig;
    expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const vc = vcOf(rig);
    const nbls = [];
    for (let i = 0; i < 20; i++) {
      const nbl = adapter.allocateSendNetBufferList(client.vc, 80)!;
      expect(nbl).toBeDefined();
      nbl.firstNetBuffer!.data().set(frame(80, 300 + i));
      nbls.push(nbl);
    }
    client.sendNbls(nbls);
    await waitUntil(() => seen.length === 20 && client.completed === 20, 'zero-copy frames out');
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => 300 + i));
    expect(vc.counters.txZeroCopy).toBe(20);
    expect(vc.counters.txCopied).toBe(0);
    for (const n of nbls) adapter.freeSendNetBufferList(n);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  });

  it('sends beyond the ring wait in the software queue and all complete, in order', async () => {
    const { rig, seen } = setup(42, { queueSize: 32 });
    const { client } = rig;
    expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const vc = vcOf(rig);
    client.sendFrames(300, 0);
    expect(vc.swqHead).not.toBeNull();
    expect(vc.counters.txQueued).toBeGreaterThan(0);
    expect(vc.txInFlight).toBe(300);
    await waitUntil(
      () => seen.length === 300 && client.completed === 300,
      '300 frames through a 32-entry ring',
    );
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(client.status('SUCCESS')).toBe(300);
    expect(vc.swqHead).toBeNull();
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
  });

  it("NDIS's deadline aborts a drain that cannot finish; every NBL is accounted for; a retry completes at once", async () => {
    const { rig, peer } = setup(42, { post: false, deadlineMs: 150 });
    const { client, cm, ndis, adapter } = rig;
    expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const vc = vcOf(rig);
    const aborts: CondisError[] = [];
    adapter.on('vcAbort', (e) => aborts.push(e));
    client.sendFrames(100, 0); // 64 on the ring, stalled; 36 in the software queue
    const deact = cm.deactivate(client.vc);
    expect(deact.status).toBe(NDIS_STATUS_PENDING);
    expect(await deact.done).toBe(NDIS_STATUS_REQUEST_ABORTED);
    await waitUntil(() => client.completed === 100, 'aborted sends completed');
    expect(client.status('SEND_ABORTED')).toBe(100);
    expect(aborts.map((e) => e.code)).toEqual(['ERR_CONDIS_DRAIN_TIMEOUT']);
    expect(vc.state).toBe(VcState.Active);
    expect(ndis.vcInfo(client.vc)?.activation).toBe('ACTIVE');
    const names = traceNames(ndis, client.vc);
    expect(
      inOrder(names, [
        'MiniportCoDeactivateVc',
        'MiniportCoAbortVc',
        'NdisMCoSendNetBufferListsComplete',
        'NdisMCoDeactivateVcComplete:REQUEST_ABORTED',
        'ProtocolCmDeactivateVcComplete:REQUEST_ABORTED',
      ]),
    ).toBe(true);
    // Nothing in flight any more: the retry completes synchronously.
    const retry = cm.deactivate(client.vc);
    expect(retry.status).toBe(NDIS_STATUS_SUCCESS);
    expect(client.given).toBe(client.completed);
    void peer;
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  });

  it('indicates with NDIS_RECEIVE_FLAGS_RESOURCES when few buffers remain (optional mode)', async () => {
    const [a, b] = openWirePair({ queuePairs: 2, queueSize: 32 });
    open.push(a, b);
    const rig = makeRig(a, {}, { rxResourcesThreshold: 16 });
    b.bindPair(1, 42);
    const peer = new FramePort(b, 1);
    b.onInterrupt = () => peer.poll();
    peer.postRx();
    expect(await rig.client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const vc = vcOf(rig);
    rig.client.hold = true;
    // Hold 20 of 32 buffers: the next frames arrive with fewer than 16 posted.
    peerSend(peer, 20, 0);
    await waitUntil(() => rig.client.held.length === 20 || vc.counters.rxIndicatedResources > 0, 'receives');
    peerSend(peer, 5, 100);
    await waitUntil(() => rig.client.rxFrames === 25, 'all frames seen');
    expect(vc.counters.rxIndicatedResources).toBeGreaterThan(0);
    expect(vc.rxHeld).toBe(rig.client.held.length);
    expect(rig.ndis.vcInfo(rig.client.vc)?.rxHeld).toBe(rig.client.held.length);
    rig.client.returnHeld();
    expect(vc.rxHeld).toBe(0);
    expect(await rig.client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
  });

  it('a VC without a VID, or with one already in use, is refused with INVALID_DATA', async () => {
    const { rig } = setup(42);
    expect(await rig.client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const { ndis, adapter } = rig;
    const other = makeOther(rig);
    const r = ndis.coCreateVc(other.binding, other.af, null);
    expect(await ndis.clMakeCallAsync(r.vcHandle!, condisCallParameters(42))).toBe(NDIS_STATUS_INVALID_DATA);
    expect(await ndis.clMakeCallAsync(r.vcHandle!, { flags: 0 })).toBe(NDIS_STATUS_INVALID_DATA);
    expect(ndis.coDeleteVc(r.vcHandle!)).toBe(NDIS_STATUS_SUCCESS);
    expect(await rig.client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(adapter.poolCounts().freePairs).toBe(2);
  });

  it('a VC on VID 0 is untagged pair 0: frames both ways, one such VC at a time, drain, reset, re-activation', async () => {
    const [a, b] = openWirePair({ queuePairs: 3, queueSize: 32 });
    open.push(a, b);
    const rig = makeRig(a);
    const { client, cm, ndis, adapter } = rig;
    // The far end drives its pair 0 directly: whatever lands there came untagged (a tagged frame
    // would go to the pair bound to its VID, or be dropped as unbound).
    const peer = new FramePort(b, 0);
    const seen: number[] = [];
    peer.onFrame = (bytes, off) => seen.push(seqOf(bytes, off));
    b.onInterrupt = () => peer.poll();
    peer.postRx();
    expect(await client.connect(condisCallParameters(UNTAGGED_VID))).toBe(NDIS_STATUS_SUCCESS);
    const vc = vcOf(rig);
    expect([vc.state, vc.vid, vc.pair?.index]).toEqual([VcState.Active, 0, 0]);
    expect(adapter.poolCounts().freePairs).toBe(2); // pairs 1..2 untouched
    client.sendFrames(30, 0);
    peerSend(peer, 20, 1000);
    await waitUntil(() => seen.length === 30 && client.rxFrames === 20 && client.completed === 30, 'traffic');
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(client.rxSeqs).toEqual(Array.from({ length: 20 }, (_, i) => 1000 + i));
    expect(client.status('SUCCESS')).toBe(30);
    expect(b.stats().pairs[0]!.rxFrames).toBe(30);
    expect(a.stats().rxUnboundVid).toBe(0);
    // At most one VC on pair 0: a second VID-0 activation is refused like any VID in use.
    const other = makeOther(rig);
    const r = ndis.coCreateVc(other.binding, other.af, null);
    expect(await ndis.clMakeCallAsync(r.vcHandle!, condisCallParameters(UNTAGGED_VID))).toBe(
      NDIS_STATUS_INVALID_DATA,
    );
    expect(ndis.coDeleteVc(r.vcHandle!)).toBe(NDIS_STATUS_SUCCESS);
    // Deactivation with held receives pends like on any pair and completes on their return.
    client.hold = true;
    peerSend(peer, 8, 2000);
    await waitUntil(() => client.held.length === 8, '8 held receives');
    const deact = cm.deactivate(client.vc);
    expect(deact.status).toBe(NDIS_STATUS_PENDING);
    expect(vc.state).toBe(VcState.Draining);
    expect(client.returnHeld()).toBe(8);
    expect(await deact.done).toBe(NDIS_STATUS_SUCCESS);
    expect(vc.state).toBe(VcState.Inactive);
    // Pair 0 was reset (both queues): every buffer is back, and pair 0 is free again.
    expect(adapter.pairs[0]!.vc).toBeNull();
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    expect(adapter.poolCounts().freePairs).toBe(2);
    // Re-activation on VID 0 takes pair 0 again and carries traffic.
    client.hold = false;
    expect(await cm.activate(client.vc, condisCallParameters(UNTAGGED_VID))).toBe(NDIS_STATUS_SUCCESS);
    expect(vc.pair?.index).toBe(0);
    client.sendFrames(10, 100);
    peerSend(peer, 5, 3000);
    await waitUntil(() => seen.length === 40 && client.rxFrames === 33, 'traffic after re-activation');
    expect(seen.slice(30)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    await waitUntil(() => client.completed === 40, 'completions');
    expect(client.returned).toBe(client.rxFrames);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  });

  it("VID 0 is refused with INVALID_DATA when pair 0 is not the miniport's (untaggedPair: false)", async () => {
    const [a, b] = openWirePair({ queuePairs: 3, queueSize: 32 });
    open.push(a, b);
    const rig = makeRig(a, {}, { untaggedPair: false });
    expect(rig.adapter.pairs[0]).toBeNull();
    expect(await rig.client.connect(condisCallParameters(UNTAGGED_VID))).toBe(NDIS_STATUS_INVALID_DATA);
    expect(rig.ndis.coDeleteVc(rig.client.vc)).toBe(NDIS_STATUS_SUCCESS);
    expect(rig.adapter.poolCounts()).toMatchObject({ freePairs: 2 });
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
  });
});

/** A second client on the same miniport (its own binding and AF). */
function makeOther(rig: Rig): TestClient {
  return new TestClient(rig.ndis, rig.adapter, 'other-client');
}
