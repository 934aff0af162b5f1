// The MCM variant on two hosts joined by the wire backend: miniport and call manager in one
// driver, signalling on queue pair 0 of the device, internal and invisible to NDIS (spec E67).
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType } from '../../lib/cm';
import { type Device, openWirePair } from '../../lib/device';
import { condisCallParameters, UNTAGGED_VID } from '../../lib/miniport';
import { NDIS_STATUS_INVALID_DATA, NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { waitUntil } from '../helpers/wait';
import { type Endpoint, MAC_1, MAC_2, mcmEndpoint, params, RETRANSMIT_MS, traceOf } from './harness';
import {
  carry,
  clientCloseWithHeldReceives,
  establish,
  networkCloseWithSendsAndHeldReceives,
} from './scenarios';

let devices: Device[] = [];
afterEach(() => {
  for (const d of devices) d.destroy();
  devices = [];
});

function hosts(opts: Parameters<typeof mcmEndpoint>[2] = {}) {
  const [a, b] = openWirePair({ queuePairs: 4, queueSize: 32 });
  devices.push(a, b);
  return [mcmEndpoint(a, MAC_1, { peerMac: MAC_2, ...opts }), mcmEndpoint(b, MAC_2, opts)] as const;
}

async function closeHosts(...eps: Endpoint[]): Promise<void> {
  for (const ep of eps) await ep.close();
}

/** Spec E67: nothing in NDIS's trace is about the signalling channel. */
function expectSignallingInvisible(ep: Endpoint, callSlots: number[]): void {
  const events = ep.ndis.trace!.events;
  // Only clients create VCs with NdisCoCreateVc (their outgoing calls); nobody uses NdisCm*.
  expect(events.filter((e) => e.name === 'NdisCoCreateVc' && e.from !== 'Client')).toEqual([]);
  expect(events.filter((e) => /^NdisCm/.test(e.name))).toEqual([]);
  expect(events.filter((e) => /^Miniport.*Vc$/.test(e.name))).toEqual([]);
  expect(events.filter((e) => e.detail === 'AF=NULL')).toEqual([]);
  expect([...new Set(events.filter((e) => e.vc !== undefined).map((e) => e.vc))].sort()).toEqual(
    [...callSlots].sort(),
  );
}

describe('MCM over the wire', () => {
  it('calls in both directions, frames both ways with exact counts; signalling stays off NDIS (E67)', async () => {
    const [h1, h2] = hosts();
    expect(h1.ndis.vcCount).toBe(0); // no signalling VC
    const [c12, c21] = await Promise.all([establish(h1, h2, 100), establish(h2, h1, 200)]);
    expect(h1.ndis.vcCount).toBe(2);
    await carry(h1, c12.out, c12.in, 50, 0);
    await carry(h2, c12.in, c12.out, 30, 100);
    await carry(h2, c21.out, c21.in, 40, 200);
    await carry(h1, c21.in, c21.out, 25, 300);
    // The MCM's traces follow spec §3.1 (MCM variant) and §3.8 with NdisMCm* requests.
    expect(traceOf(h1.ndis, c12.out.slot)).toEqual([
      'ProtocolCoCreateVc',
      'NdisClMakeCall',
      'ProtocolCmMakeCall',
      'NdisMCmActivateVc',
      'NdisMCmMakeCallComplete:SUCCESS',
      'ProtocolClMakeCallComplete:SUCCESS',
      ...traceOf(h1.ndis, c12.out.slot).slice(6),
    ]);
    expect(traceOf(h2.ndis, c12.in.slot).slice(0, 6)).toEqual([
      'ProtocolCoCreateVc',
      'NdisMCmActivateVc',
      'NdisMCmDispatchIncomingCall',
      'ProtocolClIncomingCall',
      'NdisMCmDispatchCallConnected',
      'ProtocolClCallConnected',
    ]);
    expect(await h1.client.closeCall(c12.out)).toBe(NDIS_STATUS_SUCCESS);
    expect(await h2.client.closeCall(c21.out)).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => h1.ndis.vcCount === 0 && h2.ndis.vcCount === 0, 'call VCs deleted');
    expectSignallingInvisible(h1, [c12.out.slot, c21.in.slot]);
    expectSignallingInvisible(h2, [c12.in.slot, c21.out.slot]);
    // Every signalling frame went through pair 0 of the device, untagged.
    for (const ep of [h1, h2]) {
      const sent = Object.values(ep.cm.stats.sent).reduce((x, y) => x + y, 0);
      expect(sent).toBe(5);
      expect((ep.cm as typeof h1.cm).channel.port.sent).toBe(sent);
      expect((ep.cm as typeof h1.cm).channel.port.received).toBeGreaterThanOrEqual(5);
    }
    await closeHosts(h1, h2);
  });

  describe.each([['caller'], ['callee']] as const)('the %s closes', (closer) => {
    it('client-initiated close (§3.2, MCM): the MCM drains, then NdisMCmDeactivateVc, then the close completes', async () => {
      const [h1, h2] = hosts();
      const call = await establish(h1, h2, 100);
      await clientCloseWithHeldReceives(call, closer, 12, 0);
      expectSignallingInvisible(h1, [call.out.slot]);
      await closeHosts(h1, h2);
    });

    it('network-initiated close (§3.3, MCM) at the peer: drain with sends and held receives in flight', async () => {
      const [h1, h2] = hosts();
      const call = await establish(h1, h2, 100);
      await networkCloseWithSendsAndHeldReceives(call, closer, 10, 6, 0);
      expectSignallingInvisible(h2, [call.in.slot]);
      await closeHosts(h1, h2);
    });
  });

  it('a rejected offer: NdisMCmDeactivateVc and NdisMCmDeleteVc at the callee; the make-call fails', async () => {
    const [h1, h2] = hosts();
    h2.client.answer = NDIS_STATUS_NOT_SUPPORTED;
    const { status } = await h1.client.makeCall(params(100));
    expect(status).toBe(NDIS_STATUS_NOT_SUPPORTED);
    await waitUntil(() => h2.ndis.vcCount === 0, 'rejected VC deleted');
    const names = h2.ndis.trace!.names();
    expect(names.filter((n) => n.startsWith('NdisMCm') && !n.endsWith('AddressFamilyEx'))).toEqual([
      'NdisMCmCreateVc',
      'NdisMCmActivateVc',
      'NdisMCmDispatchIncomingCall',
      'NdisMCmDeactivateVc',
      'NdisMCmDeleteVc',
    ]);
    expect(h2.adapter.poolCounts().freePairs).toBe(3);
    await closeHosts(h1, h2);
  });

  it("pair 0 is the signalling channel's: the embedded miniport does not lend it, a call on VID 0 is refused", async () => {
    const [h1, h2] = hosts();
    expect(h1.adapter.pairs[0]).toBeNull();
    const refused = await h1.client.makeCall(condisCallParameters(UNTAGGED_VID));
    expect(refused.status).toBe(NDIS_STATUS_INVALID_DATA);
    expect(h1.cm.stats.sent.SETUP ?? 0).toBe(0);
    // Signalling still works next to it (the channel's interrupt hook services pair 0).
    const call = await establish(h1, h2, 100);
    expect(await h1.client.closeCall(call.out)).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => h2.ndis.vcCount === 0, 'callee VC deleted');
    // (NDIS may give the second VC the first one's slot.)
    expectSignallingInvisible(h1, [...new Set([refused.call.slot, call.out.slot])]);
    await closeHosts(h1, h2);
  });

  it('a lost SETUP is sent again on T303', async () => {
    let dropped = 0;
    const [a, b] = openWirePair({ queuePairs: 4, queueSize: 32 });
    devices.push(a, b);
    const m1 = mcmEndpoint(a, MAC_1, { peerMac: MAC_2 });
    const m2 = mcmEndpoint(b, MAC_2, {
      filter: (dir, m) => !(dir === 'rx' && m.type === MessageType.SETUP && dropped++ === 0),
    });
    const making = m1.client.makeCall(params(100));
    await waitUntil(() => m2.cm.stats.droppedRx === 1, 'the first SETUP dropped');
    m1.clock.advance(RETRANSMIT_MS);
    const { status, call } = await making;
    expect(status).toBe(NDIS_STATUS_SUCCESS);
    expect(m1.cm.stats.sent.SETUP).toBe(2);
    expect(await m1.client.closeCall(call)).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => m2.ndis.vcCount === 0, 'callee VC deleted');
    await closeHosts(m1, m2);
  });
});
