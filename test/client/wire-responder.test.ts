// The reference client (PingResponder) on the wire backend, no privileges: device A carries the
// miniport, the PvcCallManager and the client; device B plays the host with a FramePort on the
// pair bound to VID 42, crafting ARP and ICMP frames (test/client/packets.ts) and checking what
// comes back field by field.
import { afterEach, describe, expect, it } from 'vitest';
import { PingResponder } from '../../lib/client';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import { condisCallParameters, MiniportAdapter, type MiniportVc, VcState } from '../../lib/miniport';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, Ndis } from '../../lib/ndis';
import { PvcCallManager } from '../../lib/vc';
import { frame } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';
import {
  arpRequest,
  CLIENT_IP,
  CLIENT_MAC,
  checksum,
  echoRequest,
  HOST_IP,
  HOST_MAC,
  parseArp,
  parseEcho,
} from './packets';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

const VID = 42;

function setup(opts: { post?: boolean; replyBuffers?: number; rxResourcesThreshold?: number } = {}) {
  const [a, b] = openWirePair({ queuePairs: 3, queueSize: 64 });
  open.push(a, b);
  const ndis = new Ndis({ verifier: 'throw' });
  const adapter = new MiniportAdapter(ndis, a, { rxResourcesThreshold: opts.rxResourcesThreshold ?? 0 });
  const cm = new PvcCallManager(ndis, adapter.handle);
  const responder = PingResponder.open(ndis, adapter.handle, {
    vid: VID,
    ip: CLIENT_IP,
    mac: CLIENT_MAC,
    callManager: cm,
    ...(opts.replyBuffers ? { replyBuffers: opts.replyBuffers } : {}),
  });
  b.bindPair(1, VID);
  const host = new FramePort(b, 1);
  const got: Uint8Array[] = [];
  host.onFrame = (bytes, off, len) => got.push(bytes.slice(off, off + len));
  b.onInterrupt = () => host.poll();
  if (opts.post ?? true) host.postRx();
  /** The host sends frames, as one batch. */
  const send = (...frames: Uint8Array[]) => {
    for (const f of frames) if (!host.send(f)) throw new Error('host ring full');
    host.flush();
  };
  return { a, b, ndis, adapter, cm, responder, host, got, send };
}

function vcOf(adapter: MiniportAdapter, r: PingResponder): MiniportVc {
  const vc = adapter.vcFor(r.vcHandle);
  if (!vc) throw new Error('no miniport VC');
  return vc;
}

/** Echo requests seq first..first+n-1, all answered: their replies' seqs, in order. */
async function pingRound(
  rig: ReturnType<typeof setup>,
  first: number,
  n: number,
  payload?: number[],
): Promise<number[]> {
  const before = rig.got.length;
  rig.send(
    ...Array.from({ length: n }, (_, i) => echoRequest({ seq: first + i, ...(payload ? { payload } : {}) })),
  );
  await waitUntil(() => rig.got.length - before === n, `${n} echo replies`);
  return rig.got.slice(before).map((f) => {
    const e = parseEcho(f)!;
    expect(e.icmpChecksumOk && e.ipChecksumOk && e.type === 0).toBe(true);
    return e.seq;
  });
}

const seqs = (first: number, n: number) => Array.from({ length: n }, (_, i) => first + i);

describe('PingResponder on the wire backend', () => {
  it('answers ARP for its address and ICMP echo to it, field by field; ignores and counts the rest', async () => {
    const rig = setup();
    const { responder, adapter, ndis, got } = rig;
    expect(await responder.start()).toBe(NDIS_STATUS_SUCCESS);
    const oddPayload = Array.from({ length: 33 }, (_, i) => 255 - i);
    const bigPayload = Array.from({ length: 1400 }, (_, i) => (i * 13) & 0xff);
    const truncated = echoRequest({ seq: 99 });
    truncated[16] = 0x05; // Total Length 1500 > the frame
    truncated[17] = 0xdc;
    rig.send(
      arpRequest(CLIENT_IP), // answered
      arpRequest('10.42.0.9'), // not for us
      arpRequest(CLIENT_IP, { op: 2 }), // a reply: nothing to answer
      arpRequest(CLIENT_IP, { sender: CLIENT_IP }), // gratuitous: nothing to answer
      echoRequest({ id: 0xbeef, seq: 1 }), // answered
      echoRequest({ id: 0xbeef, seq: 2, payload: oddPayload, tos: 0x10 }), // answered
      echoRequest({ id: 7, seq: 3, payload: [] }), // answered (padded to 60)
      echoRequest({ id: 7, seq: 4, payload: bigPayload }), // answered
      echoRequest({ seq: 5, badIpChecksum: true }), // malformed
      echoRequest({ seq: 6, badIcmpChecksum: true }), // malformed
      truncated, // malformed
      echoRequest({ seq: 7, dst: '10.42.0.3' }), // not for us
      echoRequest({ seq: 8, dstMac: '02:00:00:00:42:99' }), // not for us
      echoRequest({ seq: 9, protocol: 17 }), // unsupported
      echoRequest({ seq: 10, icmpType: 13 }), // unsupported (timestamp request)
      echoRequest({ seq: 11, fragment: true }), // unsupported (fragment)
      frame(64, 1), // another ethertype
    );
    await waitUntil(() => responder.counters.framesIn === 17, '17 frames at the client');
    await waitUntil(() => got.length === 5, '5 replies at the host');
    expect(responder.counters).toMatchObject({
      framesIn: 17,
      arpReplies: 1,
      echoReplies: 4,
      ignoredNotForUs: 3,
      ignoredMalformed: 3,
      ignoredUnsupported: 6,
      droppedNoBuffer: 0,
      droppedTooBig: 0,
      droppedStopping: 0,
    });

    expect(got[0]!.length).toBe(60);
    expect(parseArp(got[0]!)).toEqual({
      ethDst: HOST_MAC,
      ethSrc: CLIENT_MAC,
      op: 2,
      sha: CLIENT_MAC,
      spa: CLIENT_IP,
      tha: HOST_MAC,
      tpa: HOST_IP,
    });
    const replies = got.slice(1).map((f) => parseEcho(f)!);
    const want = [
      { id: 0xbeef, seq: 1, payload: Array.from(echoRequest().subarray(42, 98)), tos: 0 },
      { id: 0xbeef, seq: 2, payload: oddPayload, tos: 0x10 },
      { id: 7, seq: 3, payload: [], tos: 0 },
      { id: 7, seq: 4, payload: bigPayload, tos: 0 },
    ];
    replies.forEach((r, i) => {
      const w = want[i]!;
      expect(r).toEqual({
        ethDst: HOST_MAC,
        ethSrc: CLIENT_MAC,
        version: 4,
        ihl: 20,
        tos: w.tos,
        totalLength: 28 + w.payload.length,
        ttl: 64,
        protocol: 1,
        ipChecksumOk: true,
        src: CLIENT_IP,
        dst: HOST_IP,
        type: 0,
        code: 0,
        icmpChecksumOk: true,
        id: w.id,
        seq: w.seq,
        payload: w.payload,
      });
    });
    expect(got.map((f) => f.length)).toEqual([60, 98, 75, 60, 1442]);
    // The padding of the short replies is zero (reply buffers are reused, so this is checked).
    expect(Array.from(got[3]!.subarray(42))).toEqual(new Array(18).fill(0));

    await waitUntil(() => responder.counters.repliesCompleted === 5, 'reply completions');
    expect(responder.counters.repliesFailed).toBe(0);
    expect(ndis.vcInfo(responder.vcHandle)?.rxHeld).toBe(0);
    const vc = vcOf(adapter, responder);
    expect(vc.counters.rxIndicated).toBe(17);
    expect(vc.counters.rxReturned).toBe(17);
    await responder.close();
    expect(responder.replyBuffersFree).toBe(responder.replyBufferCount);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    expect(ndis.vcCount).toBe(0);
  });

  it('answers while active, not after deactivation (the device drops and counts the VID), again after re-activation with new parameters; nothing lost', async () => {
    const rig = setup();
    const { a, responder, adapter, cm, got } = rig;
    expect(await responder.start()).toBe(NDIS_STATUS_SUCCESS);
    const vc = vcOf(adapter, responder);
    expect(await pingRound(rig, 1, 5)).toEqual(seqs(1, 5));

    // The client closes its call: the call manager deactivates the VC, drained.
    expect(await responder.stop()).toBe(NDIS_STATUS_SUCCESS);
    expect(vc.state).toBe(VcState.Inactive);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    const framesIn = responder.counters.framesIn;
    const repliesBefore = got.length;
    let unbound = a.stats().rxUnboundVid;
    rig.send(...seqs(100, 5).map((seq) => echoRequest({ seq })));
    await waitUntil(() => a.stats().rxUnboundVid - unbound === 5, '5 frames dropped for an unbound VID');
    expect(responder.counters.framesIn).toBe(framesIn);
    expect(got.length).toBe(repliesBefore);

    // A new call on the same VC with new parameters: a smaller maximum frame, in force at once.
    const params = condisCallParameters(VID, { maxSduSize: 1200 });
    expect(await responder.start(params)).toBe(NDIS_STATUS_SUCCESS);
    expect(vc.params).toBe(params);
    expect(await pingRound(rig, 200, 5)).toEqual(seqs(200, 5));
    rig.send(echoRequest({ seq: 250, payload: new Array(1300).fill(1) }));
    await waitUntil(() => responder.counters.droppedTooBig === 1, 'a reply over maxSduSize not sent');

    // The call manager deactivates and re-activates without closing the call (spec §3.4c, §3.5b).
    const deact = cm.deactivate(responder.vcHandle);
    expect(await deact.done).toBe(NDIS_STATUS_SUCCESS);
    expect(vc.state).toBe(VcState.Inactive);
    unbound = a.stats().rxUnboundVid;
    rig.send(...seqs(300, 3).map((seq) => echoRequest({ seq })));
    await waitUntil(() => a.stats().rxUnboundVid - unbound === 3, '3 frames dropped for an unbound VID');
    expect(await cm.activate(responder.vcHandle, condisCallParameters(VID))).toBe(NDIS_STATUS_SUCCESS);
    expect(await pingRound(rig, 400, 5)).toEqual(seqs(400, 5));

    // Nothing lost: every frame the miniport indicated reached the client and came back, every
    // reply sent completed with SUCCESS, every buffer is free again.
    await waitUntil(() => responder.repliesInFlight === 0, 'replies completed');
    await responder.close();
    const c = responder.counters;
    expect(c.echoReplies).toBe(15);
    expect(c.framesIn).toBe(16);
    expect(vc.counters.rxIndicated).toBe(c.framesIn);
    expect(vc.counters.rxReturned).toBe(c.framesIn);
    expect(vc.counters.txNbls).toBe(c.repliesSent);
    expect(vc.counters.txCompleted).toBe(15);
    expect(c.repliesCompleted).toBe(15);
    expect(c.repliesFailed).toBe(0);
    // stop(), the call manager's, and close()'s.
    expect(vc.counters.deactivations).toBe(3);
    expect(responder.replyBuffersFree).toBe(responder.replyBufferCount);
    expect(adapter.poolCounts()).toEqual({
      free: adapter.poolCounts().capacity,
      capacity: adapter.poolCounts().capacity,
      freePairs: 2,
    });
  });

  it('stop() waits for the replies in flight before NdisClCloseCall; requests beyond the reply buffers are dropped and counted', async () => {
    // The host posts no receive buffer yet: replies stay on the wire, in flight.
    const rig = setup({ post: false, replyBuffers: 2 });
    const { responder, host, adapter } = rig;
    expect(await responder.start()).toBe(NDIS_STATUS_SUCCESS);
    rig.send(...seqs(1, 5).map((seq) => echoRequest({ seq })));
    await waitUntil(() => responder.counters.framesIn === 5, '5 requests in');
    expect(responder.counters.echoReplies).toBe(2);
    expect(responder.counters.droppedNoBuffer).toBe(3);
    expect(responder.repliesInFlight).toBe(2);
    let stopped = false;
    const stop = responder.stop().then((st) => {
      stopped = true;
      return st;
    });
    expect(responder.state).toBe('stopping');
    // Requests arriving while stopping are not answered.
    rig.send(echoRequest({ seq: 6 }));
    await waitUntil(() => responder.counters.framesIn === 6, 'a request while stopping');
    expect(responder.counters.droppedStopping).toBe(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(stopped).toBe(false);
    host.postRx();
    expect(await stop).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => rig.got.length === 2, 'the two replies at the host');
    expect(rig.got.map((f) => parseEcho(f)!.seq)).toEqual([1, 2]);
    expect(responder.replyBuffersFree).toBe(2);
    await responder.close();
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  });

  it('a network-initiated close is completed by the client, which can call again', async () => {
    const rig = setup();
    const { responder, cm } = rig;
    expect(await responder.start()).toBe(NDIS_STATUS_SUCCESS);
    expect(await pingRound(rig, 1, 3)).toEqual(seqs(1, 3));
    const t = cm.teardown(responder.vcHandle);
    expect([NDIS_STATUS_SUCCESS, NDIS_STATUS_PENDING]).toContain(t.status);
    expect(await t.done).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => responder.state === 'idle', 'the client closed its side');
    expect(await responder.start()).toBe(NDIS_STATUS_SUCCESS);
    expect(await pingRound(rig, 10, 3)).toEqual(seqs(10, 3));
    await responder.close();
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
  });

  it('answers receives indicated with NDIS_RECEIVE_FLAGS_RESOURCES (the reply is built before returning)', async () => {
    const rig = setup({ rxResourcesThreshold: 1000 });
    const { responder, adapter } = rig;
    expect(await responder.start()).toBe(NDIS_STATUS_SUCCESS);
    expect(await pingRound(rig, 1, 8)).toEqual(seqs(1, 8));
    const vc = vcOf(adapter, responder);
    expect(vc.counters.rxIndicatedResources).toBe(8);
    expect(vc.counters.rxIndicated).toBe(0);
    await waitUntil(() => responder.repliesInFlight === 0, 'replies completed');
    await responder.close();
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  });

  it('the test checksum agrees with RFC 1071 (so the field checks above can be trusted)', () => {
    // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    expect(checksum([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])).toBe(0xffff - 0xddf2);
  });
});
