// The stand-alone call manager on two hosts joined by the wire backend (no privileges): each host
// has its own device, NDIS, miniport, call manager and client. Signalling runs on each CM's
// signalling VC (NdisCoCreateVc with a NULL AF, spec §3.7): untagged on queue pair 0 (VID 0) by
// default, tagged with another VID on request.
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeMessage,
  ETHERTYPE_CONDIS_SIGNALLING,
  MessageType,
  messageTypeName,
  SIGNALLING_VID,
} from '../../lib/cm';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import { condisCallParameters, UNTAGGED_VID } from '../../lib/miniport';
import {
  NDIS_STATUS_DEST_OUT_OF_ORDER,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_AVAILABLE,
} from '../../lib/ndis';
import { waitUntil } from '../helpers/wait';
import { type Endpoint, MAC_1, MAC_2, params, RETRANSMIT_MS, standaloneEndpoint, traceOf } from './harness';
import {
  carry,
  clientCloseWithHeldReceives,
  establish,
  networkCloseWithSendsAndHeldReceives,
} from './scenarios';

let devices: Device[] = [];
let endpoints: Endpoint[] = [];
afterEach(() => {
  for (const d of devices) d.destroy();
  devices = [];
  endpoints = [];
});

function wire(): [Device, Device] {
  const pair = openWirePair({ queuePairs: 4, queueSize: 32 });
  devices.push(...pair);
  return pair;
}

async function hosts(opts: Parameters<typeof standaloneEndpoint>[2] = {}) {
  const [a, b] = wire();
  const h1 = await standaloneEndpoint(a, MAC_1, { peerMac: MAC_2, ...opts });
  const h2 = await standaloneEndpoint(b, MAC_2, opts);
  endpoints.push(h1, h2);
  return [h1, h2] as const;
}

async function closeHosts(...eps: Endpoint[]): Promise<void> {
  for (const ep of eps) await ep.close();
}

describe('stand-alone call manager over the wire', () => {
  it('the signalling VC is an NDIS VC with no address family, active on VID 0: untagged pair 0', async () => {
    const [h1, h2] = await hosts();
    const sig = h1.cm.signallingVc.handle!;
    expect(h1.ndis.vcInfo(sig)).toMatchObject({ signalling: true, activation: 'ACTIVE', creator: 'cm' });
    const names = h1.ndis.trace!.names();
    expect(names.slice(names.indexOf('NdisCoCreateVc'), names.indexOf('NdisCmActivateVc') + 2)).toEqual([
      'NdisCoCreateVc',
      'MiniportCoCreateVc',
      'NdisCmActivateVc',
      'MiniportCoActivateVc',
    ]);
    expect(h1.ndis.trace!.events.some((e) => e.name === 'NdisCoCreateVc' && e.detail === 'AF=NULL')).toBe(
      true,
    );
    const mvc = h1.adapter.vcFor(sig)!;
    expect(SIGNALLING_VID).toBe(UNTAGGED_VID);
    expect([mvc.vid, mvc.pair?.index]).toEqual([0, 0]);
    expect(h1.adapter.poolCounts().freePairs).toBe(3); // every pair 1..N-1 left for calls
    // A call cannot be put on VID 0: it is signalling's home, and no SETUP can name it.
    expect((await h1.client.makeCall(condisCallParameters(UNTAGGED_VID))).status).toBe(
      NDIS_STATUS_INVALID_DATA,
    );
    await closeHosts(h1, h2);
    // stop() deactivated the signalling VC: pair 0 was reset and every buffer came back.
    expect(h1.adapter.poolCounts().free).toBe(h1.adapter.poolCounts().capacity);
  });

  it('calls in both directions at once, frames both ways on each with exact counts, then both close', async () => {
    const [h1, h2] = await hosts();
    const [c12, c21] = await Promise.all([establish(h1, h2, 100), establish(h2, h1, 200)]);
    expect(h1.ndis.vcCount).toBe(3); // signalling + two calls
    // Broadcast vs unicast SETUP: host 1 knows its peer, host 2 does not.
    expect(h2.cm.stats.received.SETUP).toBe(1);
    expect(h1.cm.stats.received.SETUP).toBe(1);
    // The callee saw the caller's parameters, transmit and receive swapped, and who called.
    const offer = h2.client.offers[0]!;
    expect(offer.mediaParameters?.specific).toEqual({ vid: 100 });
    expect(offer.callMgrParameters!.specific).toEqual({ peer: MAC_1, sap: 0 });
    await carry(h1, c12.out, c12.in, 50, 0);
    await carry(h2, c12.in, c12.out, 30, 100);
    await carry(h2, c21.out, c21.in, 40, 200);
    await carry(h1, c21.in, c21.out, 25, 300);
    expect([c12.out.rxFrames, c12.in.rxFrames, c21.out.rxFrames, c21.in.rxFrames]).toEqual([30, 50, 25, 40]);
    // Frames of one call never show up on the other (each VC is its own VID).
    expect(c21.in.rxSeqs.every((s) => s >= 200 && s < 240)).toBe(true);
    expect(await h1.client.closeCall(c12.out)).toBe(NDIS_STATUS_SUCCESS);
    expect(await h2.client.closeCall(c21.out)).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => h1.ndis.vcCount === 1 && h2.ndis.vcCount === 1, 'call VCs deleted');
    expect(c12.in.closeStatus).toBe(NDIS_STATUS_SUCCESS);
    expect(c21.in.closeStatus).toBe(NDIS_STATUS_SUCCESS);
    // Every message once: no timer ran.
    for (const ep of [h1, h2]) {
      expect(ep.cm.stats.retransmits).toBe(0);
      expect(ep.cm.stats.sent).toEqual({
        SETUP: 1,
        CONNECT: 1,
        CONNECT_ACK: 1,
        RELEASE: 1,
        RELEASE_COMPLETE: 1,
        STATUS_ENQUIRY: 0, // no clock advanced: liveness never asked
        STATUS: 0,
      });
    }
    await closeHosts(h1, h2);
  });

  it('the outgoing call follows spec §3.1 and the incoming one §3.8 in the NDIS traces', async () => {
    const [h1, h2] = await hosts();
    const c = await establish(h1, h2, 100);
    // (NdisCoCreateVc itself is traced before the VC has a slot.)
    expect(traceOf(h1.ndis, c.out.slot)).toEqual([
      'MiniportCoCreateVc',
      'ProtocolCoCreateVc',
      'NdisClMakeCall',
      'ProtocolCmMakeCall',
      'NdisCmActivateVc',
      'MiniportCoActivateVc',
      'NdisCmMakeCallComplete:SUCCESS',
      'ProtocolClMakeCallComplete:SUCCESS',
    ]);
    expect(traceOf(h2.ndis, c.in.slot)).toEqual([
      'MiniportCoCreateVc',
      'ProtocolCoCreateVc',
      'NdisCmActivateVc',
      'MiniportCoActivateVc',
      'NdisCmDispatchIncomingCall',
      'ProtocolClIncomingCall',
      'NdisCmDispatchCallConnected',
      'ProtocolClCallConnected',
    ]);
    await h1.client.closeCall(c.out);
    await waitUntil(() => h2.ndis.vcCount === 1, 'callee VC deleted');
    await closeHosts(h1, h2);
  });

  describe.each([['caller'], ['callee']] as const)('the %s closes', (closer) => {
    it('client-initiated close (§3.2): the deactivation pends on held receives, the close completes after it', async () => {
      const [h1, h2] = await hosts();
      const call = await establish(h1, h2, 100);
      await clientCloseWithHeldReceives(call, closer, 12, 0);
      await closeHosts(h1, h2);
    });

    it('network-initiated close (§3.3) at the peer: deactivation with sends and held receives in flight', async () => {
      const [h1, h2] = await hosts();
      const call = await establish(h1, h2, 100);
      await networkCloseWithSendsAndHeldReceives(call, closer, 10, 6, 0);
      await closeHosts(h1, h2);
    });
  });

  it('a rejected offer fails the make-call with the client status; the callee VC is deactivated and deleted', async () => {
    const [h1, h2] = await hosts();
    h2.client.answer = NDIS_STATUS_NOT_SUPPORTED;
    const { status } = await h1.client.makeCall(params(100));
    expect(status).toBe(NDIS_STATUS_NOT_SUPPORTED);
    await waitUntil(() => h2.ndis.vcCount === 1, 'rejected VC deleted');
    expect(h2.client.incoming[0]!.deletedByCm).toBe(true);
    expect(h1.cm.stats.received.RELEASE_COMPLETE).toBe(1);
    expect(h1.ndis.vcCount).toBe(1);
    await closeHosts(h1, h2);
  });

  it('a VC id already carried by a call is refused', async () => {
    const [h1, h2] = await hosts();
    const c = await establish(h1, h2, 100);
    expect((await h2.client.makeCall(params(100))).status).toBe(NDIS_STATUS_VC_NOT_AVAILABLE); // h1 refuses
    expect((await h1.client.makeCall(params(100))).status).toBe(NDIS_STATUS_VC_NOT_AVAILABLE); // h1's own
    await h1.client.closeCall(c.out);
    await waitUntil(() => h2.ndis.vcCount === 1, 'callee VC deleted');
    await closeHosts(h1, h2);
  });

  it('each lost message (SETUP, CONNECT, RELEASE) is recovered by its timer', async () => {
    const lost = new Set<number>();
    const dropFirst = (dir: 'tx' | 'rx', m: { type: number }) => {
      if (dir !== 'rx' || lost.has(m.type)) return true;
      lost.add(m.type);
      return false;
    };
    const [a, b] = wire();
    const h1 = await standaloneEndpoint(a, MAC_1, {
      peerMac: MAC_2,
      filter: (d, m) => m.type !== MessageType.CONNECT || dropFirst(d, m),
    });
    const h2 = await standaloneEndpoint(b, MAC_2, {
      filter: (d, m) => (m.type !== MessageType.SETUP && m.type !== MessageType.RELEASE) || dropFirst(d, m),
    });
    const making = h1.client.makeCall(params(100));
    // SETUP lost: T303 on the caller sends it again.
    await waitUntil(() => h2.cm.stats.droppedRx === 1, 'the first SETUP dropped');
    expect(h1.cm.stats.sent.SETUP).toBe(1);
    h1.clock.advance(RETRANSMIT_MS);
    expect(h1.cm.stats.sent.SETUP).toBe(2);
    // CONNECT lost: T313 on the callee sends it again.
    await waitUntil(() => h1.cm.stats.droppedRx === 1, 'the first CONNECT dropped');
    h2.clock.advance(RETRANSMIT_MS);
    expect(h2.cm.stats.sent.CONNECT).toBe(2);
    const { status, call } = await making;
    expect(status).toBe(NDIS_STATUS_SUCCESS);
    const inc = h2.client.incoming[0]!;
    await waitUntil(() => inc.connected === 1, 'connected');
    await carry(h1, call, inc, 10, 0);
    // RELEASE lost: T308 on the closer sends it again.
    const closing = h1.client.closeCall(call);
    await waitUntil(() => h2.cm.stats.droppedRx === 2, 'the first RELEASE dropped');
    h1.clock.advance(RETRANSMIT_MS);
    expect(await closing).toBe(NDIS_STATUS_SUCCESS);
    expect(h1.cm.stats.sent.RELEASE).toBe(2);
    expect([h1.cm.stats.retransmits, h2.cm.stats.retransmits]).toEqual([2, 1]);
    expect(h2.client.offers).toHaveLength(1); // the duplicate SETUP made no second call
    await waitUntil(() => h2.ndis.vcCount === 1, 'callee VC deleted');
    await closeHosts(h1, h2);
  });

  it('no call manager at the peer: SETUP goes out untagged on pair 0 under 0x88B5, 1 + maxRetransmits times, then the make-call fails with DEST_OUT_OF_ORDER', async () => {
    const [a, b] = wire();
    // The far end only drives its pair 0 and keeps what lands there: untagged frames (a tagged
    // one would go to the pair bound to its VID, or be dropped as unbound).
    const far = new FramePort(b, 0);
    const got: Uint8Array[] = [];
    far.onFrame = (bytes, off, len) => got.push(bytes.slice(off, off + len));
    b.onInterrupt = () => far.poll();
    far.postRx();
    const h1 = await standaloneEndpoint(a, MAC_1, { maxRetransmits: 3 });
    const making = h1.client.makeCall(params(100));
    for (let i = 0; i < 4; i++) h1.clock.advance(RETRANSMIT_MS);
    const { status } = await making;
    expect(status).toBe(NDIS_STATUS_DEST_OUT_OF_ORDER);
    expect(h1.cm.stats.sent.SETUP).toBe(4);
    expect(h1.cm.stats.retransmits).toBe(3);
    expect(h1.cm.stats.timeouts).toBe(1);
    expect(h1.cm.calls).toBe(0);
    expect(h1.ndis.vcCount).toBe(1); // the client deleted its VC
    // 4 SETUPs and the final RELEASE COMPLETE, each an untagged 0x88B5 frame on the far pair 0.
    await waitUntil(() => got.length === 5, 'signalling frames at the far pair 0');
    for (const f of got) expect((f[12]! << 8) | f[13]!).toBe(ETHERTYPE_CONDIS_SIGNALLING);
    expect(got.map((f) => messageTypeName(decodeMessage(f, 0, f.length)!.type))).toEqual([
      'SETUP',
      'SETUP',
      'SETUP',
      'SETUP',
      'RELEASE_COMPLETE',
    ]);
    expect(b.stats().rxUnboundVid).toBe(0);
    expect(h1.clock.pendingTimers).toBe(0);
    await h1.close();
  });

  it('signallingVid 1..4094: the same signalling, tagged with that VID on a pair 1..N-1', async () => {
    const [h1, h2] = await hosts({ signallingVid: 4094 });
    const sig = h1.adapter.vcFor(h1.cm.signallingVc.handle!)!;
    expect(sig.vid).toBe(4094);
    expect(sig.pair?.index).toBeGreaterThan(0);
    const c = await establish(h1, h2, 100);
    await carry(h1, c.out, c.in, 10, 0);
    expect(await h1.client.closeCall(c.out)).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => h2.ndis.vcCount === 1, 'callee VC deleted');
    await closeHosts(h1, h2);
  });

  it('a peer with nothing on the signalling VID drops the tagged signalling as unbound', async () => {
    const [a, b] = wire(); // nobody drives b: VID 4094 is not bound there
    const h1 = await standaloneEndpoint(a, MAC_1, { maxRetransmits: 3, signallingVid: 4094 });
    const making = h1.client.makeCall(params(100));
    for (let i = 0; i < 4; i++) h1.clock.advance(RETRANSMIT_MS);
    expect((await making).status).toBe(NDIS_STATUS_DEST_OUT_OF_ORDER);
    // 4 SETUPs and the final RELEASE COMPLETE reached b and were dropped there (VID not bound).
    await waitUntil(() => b.stats().rxUnboundVid === 5, 'frames dropped at the silent peer');
    await h1.close();
  });
});
