// The miniport's repair of a failed queue outside a drain (wire backend), 'queueReset':
// - an Active VC's transmitq failed by the device after it had sent some of the ring's frames in
//   the same batch: those complete SUCCESS (the peer has them), only the rest SEND_ABORTED, and
//   the software queue goes out on the fresh ring;
// - the same fault found twice (the device's report, and the driver's own stop found by the
//   harvest before the reset, reported a microtask later): one reset, not two;
// - pair 0 with no VC (a plain miniport's, no VID-0 VC yet) and an MCM's signalling pair: the
//   queue is reset, counted and reported, and the pair works again (signalling makes calls).
import { afterEach, describe, expect, it } from 'vitest';
import { PortSignallingChannel } from '../../lib/cm';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import type { CondisError } from '../../lib/errors';
import { condisCallParameters, UNTAGGED_VID, VcState } from '../../lib/miniport';
import { makeNbl, NDIS_STATUS_SUCCESS, type NetBufferList } from '../../lib/ndis';
import { UsedRingError } from '../../lib/virtio';
import { QueueState } from '../../lib/virtio/layout';
import { MAC_1, MAC_2, mcmEndpoint } from '../cm/harness';
import { carry, establish } from '../cm/scenarios';
import { expectEachCompletedOnce } from '../faults/accounting';
import { RawRing } from '../helpers/device-ring';
import { frame, seqOf } from '../helpers/frames';
import { availEntry, pushAvail, usedIdx, writeDesc } from '../helpers/raw-ring';
import { waitUntil } from '../helpers/wait';
import { makeRig } from './harness';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

const Q = 64;
const VID = 42;
const SENDS = 100;
/** Frames the device sends from the ring before it meets the hostile chain (one batch: 64). */
const K = 10;

/**
 * An Active VC on a's pair 1 with 100 sends: the peer (b's pair 1) has posted no buffer, so 64
 * wait on the transmit ring (wire flow control) and 36 in the miniport's software queue.
 */
async function stalledSends() {
  const [a, b] = openWirePair({ queuePairs: 3, queueSize: Q });
  open.push(a, b);
  const rig = makeRig(a);
  b.bindPair(1, VID);
  const peer = new FramePort(b, 1);
  const seen = new Set<number>();
  peer.onFrame = (bytes, off) => seen.add(seqOf(bytes, off));
  b.onInterrupt = () => peer.poll();
  expect(await rig.client.connect(condisCallParameters(VID))).toBe(NDIS_STATUS_SUCCESS);
  const vc = rig.adapter.vcFor(rig.client.vc)!;
  const resets: CondisError[] = [];
  rig.adapter.on('queueReset', (e) => resets.push(e));
  const ringErrors: string[] = [];
  a.on('ringError', (e) => ringErrors.push(e.code));
  const sent: NetBufferList[] = Array.from({ length: SENDS }, (_, i) => makeNbl(frame(64, i)));
  rig.client.sendNbls(sent);
  await new Promise((r) => setTimeout(r, 20));
  expect(vc.txInFlight).toBe(SENDS);
  expect(vc.pair!.txq.inFlight()).toBe(Q);
  return { a, b, rig, vc, peer, seen, sent, resets, ringErrors, txq: vc.pair!.txq.index };
}

/** Every send completed once; SUCCESS exactly for the frames the peer received. */
function expectSuccessIffSeen(sent: NetBufferList[], completed: NetBufferList[], seen: Set<number>) {
  const counts = expectEachCompletedOnce(sent, completed, ['SUCCESS', 'SEND_ABORTED']);
  const wrong = sent
    .map((p, i) => ({ i, ok: p.status === NDIS_STATUS_SUCCESS }))
    .filter(({ i, ok }) => ok !== seen.has(i))
    .map(({ i }) => i);
  expect(wrong, 'sends whose status disagrees with what the peer received').toEqual([]);
  return counts;
}

describe("miniport: an Active VC's failed transmitq", () => {
  it('frames the device sent before the fault complete SUCCESS, the rest of the ring SEND_ABORTED', async () => {
    const { a, rig, vc, peer, seen, sent, resets, txq } = await stalledSends();
    // The chain after the first K is hostile: the device sends K, then fails the queue, and
    // reports both in one interrupt (the K used entries not yet harvested).
    const { head } = availEntry(a.region, txq, usedIdx(a.region, txq) + K);
    writeDesc(a.region, txq, head, 2 ** 40, 64, 0, 0);
    peer.postRx();
    await waitUntil(() => rig.client.completed === SENDS, 'every send completed');
    expect(resets.map((e) => e.code)).toEqual(['ERR_CONDIS_RING_DESC_OUT_OF_POOL']);
    expect(rig.adapter.queueResets).toBe(1);
    // K from the ring and the 36 of the software queue, placed on the fresh ring, went out.
    expect(seen.size).toBe(K + SENDS - Q);
    expect(expectSuccessIffSeen(sent, rig.client.completedNbls, seen)).toEqual({
      SUCCESS: K + SENDS - Q,
      SEND_ABORTED: Q - K,
    });
    expect(vc.state).toBe(VcState.Active);
    expect(a.stats().pairs[1]!.txState).toBe(QueueState.Ready);
    expect(await rig.client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
  });

  it('one fault found by the device and by the driver is repaired once', async () => {
    const { a, rig, peer, seen, sent, resets, ringErrors, txq } = await stalledSends();
    // As above, and the K-th avail entry names the (K-1)-th chain's head again: the device sends
    // that buffer twice, so the used ring returns one id twice. The miniport's reset harvests
    // first (previous test), finds the repeat and stops the queue — reported a microtask later,
    // after the reset it belongs to has been done.
    const first = usedIdx(a.region, txq);
    const dup = availEntry(a.region, txq, first + K - 2).head;
    a.region.dv.setUint16(availEntry(a.region, txq, first + K - 1).off, dup, true);
    writeDesc(a.region, txq, availEntry(a.region, txq, first + K).head, 2 ** 40, 64, 0, 0);
    peer.postRx();
    await waitUntil(() => rig.client.completed === SENDS, 'every send completed');
    await new Promise((r) => setTimeout(r, 20)); // a second repair would have come by now
    expect(ringErrors).toEqual(['ERR_CONDIS_RING_DESC_OUT_OF_POOL', UsedRingError.IdRepeated]);
    expect(resets.map((e) => e.code)).toEqual(['ERR_CONDIS_RING_DESC_OUT_OF_POOL']);
    expect(rig.adapter.queueResets).toBe(1);
    // The K-1 distinct frames before the repeat, then the software queue's 36 on the fresh ring:
    // none of those was aborted by a second reset.
    expect(seen.size).toBe(K - 1 + SENDS - Q);
    expect(expectSuccessIffSeen(sent, rig.client.completedNbls, seen)).toEqual({
      SUCCESS: K - 1 + SENDS - Q,
      SEND_ABORTED: Q - K + 1,
    });
    expect(await rig.client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
  });
});

describe('miniport: a failed queue of pair 0 with no VC', () => {
  it('a plain miniport resets it, and the next VID-0 VC sends on it', async () => {
    const [a, b] = openWirePair({ queuePairs: 2, queueSize: Q });
    open.push(a, b);
    const rig = makeRig(a);
    const resets: CondisError[] = [];
    rig.adapter.on('queueReset', (e) => resets.push(e));
    const peer = new FramePort(b, 0);
    let got = 0;
    peer.onFrame = () => got++;
    b.onInterrupt = () => peer.poll();
    peer.postRx();
    // A hostile avail entry on pair 0's transmitq while nobody holds the pair.
    pushAvail(a.region, 1, Q + 7);
    a.kick(1);
    await waitUntil(() => resets.length === 1, 'queueReset');
    expect(resets[0]!.code).toBe('ERR_CONDIS_RING_HEAD_OUT_OF_RANGE');
    expect(resets[0]!.details).toMatchObject({ queue: 1 });
    expect(rig.adapter.queueResets).toBe(1);
    expect(a.stats().pairs[0]!.txState).toBe(QueueState.Ready);
    expect(await rig.client.connect(condisCallParameters(UNTAGGED_VID))).toBe(NDIS_STATUS_SUCCESS);
    rig.client.sendFrames(10);
    await waitUntil(() => rig.client.completed === 10 && got === 10, 'the VID-0 sends');
    expect(rig.client.status('SUCCESS')).toBe(10);
    expect(await rig.client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
  });
});

describe('a signalling channel alone on its device', () => {
  it('resets a failed queue of its pair itself and sends again', async () => {
    const [a, b] = openWirePair({ queuePairs: 2, queueSize: Q });
    open.push(a, b);
    const channel = new PortSignallingChannel(a);
    const peer = new FramePort(b, 0);
    let got = 0;
    peer.onFrame = () => got++;
    b.onInterrupt = () => peer.poll();
    peer.postRx();
    pushAvail(a.region, 1, Q + 7);
    a.kick(1);
    await waitUntil(() => a.stats().ringErrors === 1, 'the ring error');
    await waitUntil(() => a.stats().pairs[0]!.txState === QueueState.Ready, 'the reset');
    for (let i = 0; i < 5; i++) expect(channel.send(frame(64, i))).toBe(true);
    await waitUntil(() => got === 5, 'frames after the reset');
    channel.close();
  });
});

describe('MCM: a failed queue of the signalling pair is reset and signalling goes on', () => {
  const SQ = 32;
  const cases: Array<{
    name: string;
    code: string;
    queue: 0 | 1;
    /** Makes h1's queue fail; `poke` sends h1 a frame on pair 0 (an interrupt that harvests). */
    fault: (h1: Device, poke: () => void) => void;
  }> = [
    {
      name: 'device: a hostile avail entry on its transmitq',
      code: 'ERR_CONDIS_RING_HEAD_OUT_OF_RANGE',
      queue: 1,
      fault: (d) => {
        pushAvail(d.region, 1, SQ + 7);
        d.kick(1);
      },
    },
    {
      name: 'device: a device-readable buffer on its receiveq',
      code: 'ERR_CONDIS_RING_READ_ONLY_IN_RX',
      queue: 0,
      fault: (d, poke) => {
        const raw = new RawRing(d.region.sab, 0);
        const { head } = availEntry(d.region, 0, usedIdx(d.region, 0));
        raw.desc(head, raw.descAddr(head), raw.descLen(head), 0, 0);
        poke();
      },
    },
    {
      name: 'driver: used.idx past what was published on its transmitq',
      code: UsedRingError.IdxTooFar,
      queue: 1,
      fault: (d, poke) => {
        new RawRing(d.region.sab, 1).setUsedIdx((d.tx[0]!.lastUsedIdx + SQ + 1) & 0xffff);
        poke();
      },
    },
  ];

  it.each(cases)('$name -> $code', async ({ code, queue, fault }) => {
    const [a, b] = openWirePair({ queuePairs: 4, queueSize: SQ });
    open.push(a, b);
    const h1 = mcmEndpoint(a, MAC_1, { peerMac: MAC_2 });
    const h2 = mcmEndpoint(b, MAC_2);
    const resets: CondisError[] = [];
    h1.adapter.on('queueReset', (e) => resets.push(e));
    const junk = frame(64, 7); // not a signalling frame: the call control drops it
    fault(a, () => h2.cm.channel.send(junk));
    await waitUntil(() => resets.length === 1, 'queueReset');
    expect(resets[0]!.code).toBe(code);
    expect(resets[0]!.details).toMatchObject({ queue });
    expect(h1.adapter.queueResets).toBe(1);
    expect(a.stats().pairs[0]![queue === 0 ? 'rxState' : 'txState']).toBe(QueueState.Ready);
    expect((queue === 0 ? a.rx[0]! : a.tx[0]!).broken).toBeNull();
    // Signalling works both ways on the repaired pair: calls made, frames carried, calls closed.
    const c12 = await establish(h1, h2, 100);
    const c21 = await establish(h2, h1, 200);
    await carry(h1, c12.out, c12.in, 20, 0);
    await carry(h1, c21.in, c21.out, 20, 100);
    expect(await h1.client.closeCall(c12.out)).toBe(NDIS_STATUS_SUCCESS);
    expect(await h2.client.closeCall(c21.out)).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => h1.ndis.vcCount === 0 && h2.ndis.vcCount === 0, 'call VCs deleted');
    expect(resets).toHaveLength(1);
    await h1.close();
    await h2.close();
  });
});
