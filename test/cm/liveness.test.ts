// Liveness of a connected call (lib/cm/call-control.ts, "Liveness"): STATUS ENQUIRY / STATUS on a
// timer with the ManualClock, a silent peer's call cleared after the misses with
// NDIS_STATUS_DEST_OUT_OF_ORDER (VC drained and deleted), an answered enquiry keeping the call,
// and a restarted peer's refusal of an old call reference (RELEASE COMPLETE, cause 81) — played
// by hand on the far device's pair 0 where the test needs a peer that forgot its calls.
import { afterEach, describe, expect, it } from 'vitest';
import {
  CALL_REF_FLAG,
  Cause,
  decodeMessage,
  encodeMessage,
  MessageType,
  type SignallingMessage,
} from '../../lib/cm';
import { CondisCallManager } from '../../lib/cm/call-manager';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import { MiniportAdapter } from '../../lib/miniport';
import { ManualClock, NDIS_STATUS_DEST_OUT_OF_ORDER, NDIS_STATUS_SUCCESS, Ndis } from '../../lib/ndis';
import { waitUntil } from '../helpers/wait';
import {
  type Endpoint,
  inOrder,
  MAC_1,
  MAC_2,
  mcmEndpoint,
  params,
  SAP,
  standaloneEndpoint,
  traceOf,
} from './harness';
import { carry, establish } from './scenarios';

const KEEPALIVE_MS = 1000;
/** The callee's end probes only after hearing nothing for an interval and a half. */
const CALLEE_WAIT_MS = 1500;
const MISSES = 3;

let devices: Device[] = [];
afterEach(() => {
  for (const d of devices) d.destroy();
  devices = [];
});

function wire(): [Device, Device] {
  const pair = openWirePair({ queuePairs: 4, queueSize: 32 });
  devices.push(...pair);
  return pair;
}

const liveness = { keepaliveMs: KEEPALIVE_MS, keepaliveMisses: MISSES };

/** Two endpoints of `kind`; host 2 can be made silent (every message it would send is dropped). */
async function hosts(kind: 'cm' | 'mcm') {
  const [a, b] = wire();
  let silent = false;
  const quiet = { filter: (dir: 'tx' | 'rx') => !(silent && dir === 'tx') };
  const make = (d: Device, mac: Uint8Array, o: object): Promise<Endpoint> =>
    kind === 'cm' ? standaloneEndpoint(d, mac, o) : Promise.resolve(mcmEndpoint(d, mac, o));
  const h1 = await make(a, MAC_1, { peerMac: MAC_2, ...liveness });
  const h2 = await make(b, MAC_2, { ...liveness, ...quiet });
  return { h1, h2, silence: () => (silent = true) };
}

/** A message without its addresses (the hand-played peer fills them in). */
type Unaddressed = SignallingMessage extends infer M
  ? M extends SignallingMessage
    ? Omit<M, 'dst' | 'src'>
    : never
  : never;

/** The far device's pair 0 driven by the test: a peer that speaks the protocol by hand. */
function handPeer(b: Device) {
  const port = new FramePort(b, 0);
  const got: SignallingMessage[] = [];
  port.onFrame = (bytes, off, len) => {
    const m = decodeMessage(bytes, off, len);
    if (m) got.push(m);
  };
  b.onInterrupt = () => port.poll();
  port.postRx();
  port.poll();
  return {
    got,
    types: () => got.map((m) => m.type),
    send(m: Unaddressed) {
      expect(port.send(encodeMessage({ dst: MAC_1, src: MAC_2, ...m } as SignallingMessage))).toBe(true);
      port.flush();
    },
  };
}

describe.each([['cm'], ['mcm']] as const)('liveness (%s)', (kind) => {
  it('a silent peer: the callee probes after 1.5 intervals, 3 STATUS ENQUIRYs unanswered, at the 4th tick the call is cleared with DEST_OUT_OF_ORDER, its VC drained (held receives) and deleted', async () => {
    const { h1, h2, silence } = await hosts(kind);
    // h2 calls h1: on h1 the VC is the call manager's (it deletes it after the close).
    const call = await establish(h2, h1, 100);
    const mine = call.in;
    mine.hold = true;
    await carry(h2, call.out, mine, 5, 0);
    expect(mine.held.length).toBe(5);
    silence();
    // The callee's end: its first probe an interval and a half after it last heard the caller.
    h1.clock.advance(KEEPALIVE_MS);
    expect(h1.cm.stats.sent.STATUS_ENQUIRY).toBe(0);
    for (let i = 1; i <= MISSES; i++) {
      h1.clock.advance(i === 1 ? CALLEE_WAIT_MS - KEEPALIVE_MS : KEEPALIVE_MS);
      expect(h1.cm.stats.sent.STATUS_ENQUIRY).toBe(i);
      // It reached h2, which answered — into its filter: nothing comes back.
      await waitUntil(() => h2.cm.stats.received.STATUS_ENQUIRY === i, `enquiry ${i} at h2`);
      expect(mine.incomingClose).toEqual([]);
    }
    expect(h2.cm.stats.droppedTx).toBe(MISSES);
    expect(h1.cm.stats.received.STATUS).toBe(0);
    h1.clock.advance(KEEPALIVE_MS);
    expect(h1.cm.stats.livenessClears).toBe(1);
    expect(h1.cm.stats.sent.STATUS_ENQUIRY).toBe(MISSES); // no 4th: the call is cleared instead
    expect(mine.incomingClose).toEqual([NDIS_STATUS_DEST_OUT_OF_ORDER]);
    // The drain waits for the client's held receives; the close with it.
    await waitUntil(() => h1.drain(mine).pending, 'the deactivation');
    expect(h1.drain(mine)).toMatchObject({ pending: true, rxHeld: 5 });
    expect(mine.closeStatus).toBeUndefined();
    expect(h1.client.returnHeld(mine)).toBe(5);
    await waitUntil(() => mine.closeStatus !== undefined, 'the close');
    expect(mine.closeStatus).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => mine.deletedByCm, 'the VC deleted by the call manager');
    expect(h1.ndis.vcCount).toBe(h1.baseVcs);
    expect(h1.cm.calls).toBe(0);
    if (kind === 'cm') {
      expect(
        inOrder(traceOf(h1.ndis, mine.slot), [
          'NdisCmDispatchIncomingCloseCall:DEST_OUT_OF_ORDER',
          'ProtocolClIncomingCloseCall',
          'NdisCmDeactivateVc',
          'MiniportCoDeactivateVc',
          'NdisClCloseCall',
          'NdisReturnNetBufferLists',
          'NdisMCoDeactivateVcComplete:SUCCESS',
          'ProtocolCmDeactivateVcComplete:SUCCESS',
          'NdisCmCloseCallComplete:SUCCESS',
          'ProtocolClCloseCallComplete:SUCCESS',
          'NdisCoDeleteVc',
          'MiniportCoDeleteVc',
        ]),
      ).toBe(true);
    }
    // For a peer that was only cut off: RELEASE COMPLETE, cause 102, once the close was done.
    expect(h1.cm.stats.sent.RELEASE_COMPLETE).toBe(1);
    await waitUntil(() => h2.cm.stats.received.RELEASE_COMPLETE === 1, 'RELEASE COMPLETE at h2');
    expect(h1.clock.pendingTimers).toBe(0);
  });

  it('the caller side too: its make-call VC gets the incoming close and the client deletes it', async () => {
    const { h1, h2, silence } = await hosts(kind);
    const call = await establish(h1, h2, 200);
    silence();
    for (let i = 0; i <= MISSES; i++) h1.clock.advance(KEEPALIVE_MS);
    expect(call.out.incomingClose).toEqual([NDIS_STATUS_DEST_OUT_OF_ORDER]);
    await waitUntil(() => call.out.closeStatus === NDIS_STATUS_SUCCESS, 'the close');
    await waitUntil(() => h1.ndis.vcCount === h1.baseVcs, 'the VC deleted by the client');
    expect(h1.cm.calls).toBe(0);
  });

  it('answered enquiries keep the call: STATUS each time, no miss accumulates, frames still flow', async () => {
    const { h1, h2 } = await hosts(kind);
    const call = await establish(h1, h2, 300);
    for (let i = 1; i <= 3 * MISSES; i++) {
      h1.clock.advance(KEEPALIVE_MS);
      await waitUntil(() => h1.cm.stats.received.STATUS === i, `STATUS ${i}`);
    }
    expect(h2.cm.stats.sent.STATUS).toBe(3 * MISSES);
    expect(h1.cm.stats.livenessClears).toBe(0);
    expect(call.out.incomingClose).toEqual([]);
    await carry(h1, call.out, call.in, 10, 0);
    // The callee never probed while the caller did; once it hears nothing for an interval and a
    // half (h1's clock stands still), it probes, and h1 answers.
    expect(h2.cm.stats.sent.STATUS_ENQUIRY).toBe(0);
    h2.clock.advance(CALLEE_WAIT_MS);
    await waitUntil(() => h2.cm.stats.received.STATUS === 1, 'h2 answered');
    expect(await h1.client.closeCall(call.out)).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => h2.ndis.vcCount === h2.baseVcs, 'callee VC deleted');
    await h1.close();
    await h2.close();
  });
});

describe('liveness: one prober per call', () => {
  it('the caller probes, the callee only listens: with both clocks moving, one enquiry and one answer per interval', async () => {
    const { h1, h2 } = await hosts('cm');
    const call = await establish(h1, h2, 400);
    for (let i = 1; i <= 6; i++) {
      h1.clock.advance(KEEPALIVE_MS);
      await waitUntil(() => h2.cm.stats.received.STATUS_ENQUIRY === i, `enquiry ${i} at h2`);
      await waitUntil(() => h1.cm.stats.received.STATUS === i, `STATUS ${i} at h1`);
      // The callee's clock moves as much: its own wait restarted at each enquiry, it never expires.
      h2.clock.advance(KEEPALIVE_MS);
    }
    expect(h1.cm.stats.sent.STATUS_ENQUIRY).toBe(6);
    expect(h2.cm.stats.sent.STATUS_ENQUIRY).toBe(0);
    expect(h2.cm.stats.sent.STATUS).toBe(6);
    expect(h1.cm.stats.sent.STATUS).toBe(0);
    expect(h1.cm.stats.livenessClears + h2.cm.stats.livenessClears).toBe(0);
    expect(await h1.client.closeCall(call.out)).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => h2.ndis.vcCount === h2.baseVcs, 'callee VC deleted');
    await h1.close();
    await h2.close();
  });
});

describe('liveness against a peer that forgot its calls (played by hand)', () => {
  it('STATUS ENQUIRY for an unknown call reference is answered with RELEASE COMPLETE, cause 81', async () => {
    const [a, b] = wire();
    const h1 = await standaloneEndpoint(a, MAC_1, liveness);
    const peer = handPeer(b);
    peer.send({ type: MessageType.STATUS_ENQUIRY, callRef: 4321, toOriginator: false });
    await waitUntil(() => peer.got.length === 1, 'the answer');
    expect(peer.got[0]).toMatchObject({
      type: MessageType.RELEASE_COMPLETE,
      callRef: 4321,
      toOriginator: true,
      cause: Cause.INVALID_CALL_REFERENCE,
      dst: MAC_2,
    });
    expect(h1.cm.stats.unknownRefs).toBe(1);
    await h1.close();
  });

  it('our call to a restarted peer: its RELEASE COMPLETE (81) to our STATUS ENQUIRY clears the call with DEST_OUT_OF_ORDER, nothing sent back', async () => {
    const [a, b] = wire();
    const h1 = await standaloneEndpoint(a, MAC_1, { peerMac: MAC_2, firstCallRef: 777, ...liveness });
    const peer = handPeer(b);
    const making = h1.client.makeCall(params(100));
    await waitUntil(() => peer.got.length === 1, 'SETUP');
    expect(peer.got[0]).toMatchObject({ type: MessageType.SETUP, callRef: 777, vcId: 100 });
    peer.send({ type: MessageType.CONNECT, callRef: 777, toOriginator: true });
    const { status, call } = await making;
    expect(status).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => peer.got.length === 2, 'CONNECT ACK');
    // The peer restarts: it no longer knows reference 777.
    h1.clock.advance(KEEPALIVE_MS);
    await waitUntil(() => peer.got.length === 3, 'STATUS ENQUIRY');
    expect(peer.got[2]).toMatchObject({
      type: MessageType.STATUS_ENQUIRY,
      callRef: 777,
      toOriginator: false,
    });
    peer.send({
      type: MessageType.RELEASE_COMPLETE,
      callRef: 777,
      toOriginator: true,
      cause: Cause.INVALID_CALL_REFERENCE,
      status: 0xc0000001, // NDIS_STATUS_FAILURE, what call-control's reply puts there
    });
    await waitUntil(() => call.incomingClose.length === 1, 'the incoming close');
    expect(call.incomingClose).toEqual([NDIS_STATUS_DEST_OUT_OF_ORDER]);
    await waitUntil(() => call.closeStatus === NDIS_STATUS_SUCCESS, 'the close');
    expect(h1.ndis.vcCount).toBe(1);
    expect(h1.cm.stats.staleClears).toBe(1);
    expect(h1.cm.stats.sent.RELEASE_COMPLETE).toBe(0);
    expect(peer.types()).toEqual([MessageType.SETUP, MessageType.CONNECT_ACK, MessageType.STATUS_ENQUIRY]);
    await h1.close();
  });

  it('a SETUP reusing the reference of a connected call from the same peer: the stale call is cleared, the retransmitted SETUP gets a new call', async () => {
    const [a, b] = wire();
    const h1 = await standaloneEndpoint(a, MAC_1, liveness);
    const peer = handPeer(b);
    const setup = (vcId: number) =>
      peer.send({
        type: MessageType.SETUP,
        callRef: 55,
        toOriginator: false,
        vcId,
        sap: SAP,
        params: {
          flags: 0,
          mediaFlags: 0,
          transmit: { tokenRate: 0, peakBandwidth: 0, maxSduSize: 1500 },
          receive: { tokenRate: 0, peakBandwidth: 0, maxSduSize: 1500 },
        },
      });
    setup(100);
    await waitUntil(() => peer.got.length === 1, 'CONNECT');
    expect(peer.got[0]).toMatchObject({ type: MessageType.CONNECT, callRef: 55, toOriginator: true });
    peer.send({ type: MessageType.CONNECT_ACK, callRef: 55, toOriginator: false });
    const old = h1.client.incoming[0]!;
    await waitUntil(() => old.connected === 1, 'connected');
    // The peer restarted and drew reference 55 again.
    setup(101);
    await waitUntil(() => old.closeStatus === NDIS_STATUS_SUCCESS, 'the stale call closed');
    expect(old.incomingClose).toEqual([NDIS_STATUS_DEST_OUT_OF_ORDER]);
    await waitUntil(() => old.deletedByCm, 'its VC deleted');
    expect(h1.client.incoming.length).toBe(1); // the SETUP itself was dropped
    expect(peer.got.length).toBe(1); // and nothing went to the peer
    setup(101); // its T303 retransmission
    await waitUntil(() => peer.got.length === 2, 'CONNECT for the new call');
    expect(peer.got[1]).toMatchObject({ type: MessageType.CONNECT, callRef: 55 });
    expect(h1.client.incoming.length).toBe(2);
    peer.send({ type: MessageType.RELEASE, callRef: 55, toOriginator: false, cause: 16, status: 0 });
    await waitUntil(() => h1.ndis.vcCount === 1, 'the new call released');
    await h1.close();
  });

  it('options out of range are refused with ERR_CONDIS_INVALID_ARG (firstCallRef, keepaliveMisses)', async () => {
    const [a] = wire();
    const clock = new ManualClock();
    const ndis = new Ndis({ clock, verifier: 'throw' });
    const adapter = new MiniportAdapter(ndis, a);
    for (const bad of [0, 0x8000, 1.5]) {
      expect(() => new CondisCallManager(ndis, adapter.handle, { mac: MAC_1, firstCallRef: bad })).toThrow(
        expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
      );
    }
    expect(() => new CondisCallManager(ndis, adapter.handle, { mac: MAC_1, keepaliveMisses: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
    );
    await adapter.halt();
    expect(CALL_REF_FLAG).toBe(0x8000);
  });
});
