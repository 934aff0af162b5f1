// Fault: the device is closed (close(), which transmits what was posted, bounded; or destroy(),
// which abandons it) while a deactivation is pending — sends in flight and receives held — and no
// NDIS deadline is set, so nothing but the miniport can end that drain. Once the device has
// stopped the miniport completes every send exactly once (a chain the device finished keeps its
// status; the rest SEND_ABORTED) and aborts the deactivation with ERR_CONDIS_DEVICE_CLOSED; the
// held receives come back whenever the client returns them, and a retry completes at once.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openTap, openWirePair } from '../../lib/device';
import { condisCallParameters, VcState } from '../../lib/miniport';
import {
  makeNbl,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { frame, taggedHex } from '../helpers/frames';
import { ifName, ifStat, packetSend, quiet, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';
import { makeRig, type Rig } from '../miniport/harness';
import { abortsOf, expectEachCompletedOnce, timed } from './accounting';

const SENDS = 100;
const HELD = 8;
const tapEnabled = tapTestsEnabled('fault: close() while a deactivation is pending (TAP)');

let open: Device[] = [];
let tap = '';
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
  if (tap) shQuiet('ip', ['link', 'del', tap]);
  tap = '';
});

/** The end every case shares: the held receives come back, a retry completes, the VC goes. */
async function afterwards(rig: Rig): Promise<void> {
  const { client, cm, adapter, ndis } = rig;
  const vc = adapter.vcFor(client.vc)!;
  expect(vc.state).toBe(VcState.Active); // A11: a failed deactivation leaves the VC active
  expect(client.returnHeld()).toBe(HELD);
  expect([vc.txInFlight, vc.rxHeld]).toEqual([0, 0]);
  expect(ndis.vcInfo(client.vc)).toMatchObject({ activation: 'ACTIVE', txInMiniport: 0, rxHeld: 0 });
  // A send on a VC whose device is gone fails at once instead of waiting forever.
  const late = makeNbl(frame(64, 999));
  client.sendNbls([late]);
  await waitUntil(() => client.completedNbls.includes(late), 'the late send');
  expect(late.status).toBe(NDIS_STATUS_FAILURE);
  expect(cm.deactivate(client.vc).status).toBe(NDIS_STATUS_SUCCESS);
  expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
  await adapter.halt();
  expect(ndis.verifier.codes()).toEqual([]);
}

/** Wire: SENDS sends stalled by the peer's flow control, HELD receives held, the deactivation pending. */
async function wireDrain() {
  const [a, b] = openWirePair({ queuePairs: 3, queueSize: 64 });
  open.push(a, b);
  const rig = makeRig(a); // no deactivation deadline: only the miniport can end the drain
  b.bindPair(1, 42);
  const peer = new FramePort(b, 1);
  b.onInterrupt = () => peer.poll();
  const { client, cm, adapter } = rig;
  expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
  client.hold = true;
  for (let i = 0; i < HELD; i++) peer.send(frame(70, 500 + i));
  peer.flush();
  await waitUntil(() => client.held.length === HELD, 'held receives');
  const sent = Array.from({ length: SENDS }, (_, i) => makeNbl(frame(64, i)));
  client.sendNbls(sent);
  await new Promise((r) => setTimeout(r, 20));
  const vc = adapter.vcFor(client.vc)!;
  expect(vc.txInFlight).toBe(SENDS);
  const aborts = abortsOf(adapter);
  const deact = cm.deactivate(client.vc);
  expect(deact.status).toBe(NDIS_STATUS_PENDING);
  return { a, rig, sent, deact, aborts };
}

describe('fault: the device closed while a deactivation is pending', () => {
  it.each([
    ['close()', (d: Device) => d.close()],
    ['destroy()', (d: Device) => d.destroy()],
  ])(
    'wire, %s: the drain is aborted with ERR_CONDIS_DEVICE_CLOSED, every send completed once',
    async (_n, stop) => {
      const { a, rig, sent, deact, aborts } = await wireDrain();
      const t0 = performance.now();
      await stop(a);
      const closedAt = performance.now();
      const end = await timed(deact.done);
      expect(end.status).toBe(NDIS_STATUS_REQUEST_ABORTED);
      // close() may spend its 1 s transmitting what it can; the abort follows the stop at once.
      expect(end.at - closedAt).toBeLessThan(500);
      expect(end.at - t0).toBeLessThan(2000);
      expect(aborts.map((x) => x.err.code)).toEqual(['ERR_CONDIS_DEVICE_CLOSED']);
      expect(aborts[0]!.err.details).toMatchObject({ vid: 42, txAborted: SENDS, rxHeld: HELD });
      await waitUntil(() => rig.client.completed === SENDS, 'every send completed');
      // The peer had no buffer: nothing left, everything aborted.
      expect(expectEachCompletedOnce(sent, rig.client.completedNbls, ['SEND_ABORTED'])).toEqual({
        SEND_ABORTED: SENDS,
      });
      await afterwards(rig);
    },
  );

  it.runIf(tapEnabled)(
    'TAP, close(): what close() wrote to the TAP completes SUCCESS, the rest SEND_ABORTED; the drain is aborted',
    async () => {
      tap = ifName('cfc');
      // Persistent, so the kernel's counters of what the device wrote outlive the close.
      const dev = openTap({ name: tap, queuePairs: 3, queueSize: 256, persist: true });
      open.push(dev);
      quiet(tap);
      const rig = makeRig(dev);
      const { client, cm, adapter } = rig;
      expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
      client.hold = true;
      packetSend(tap, taggedHex(70, 9, 42), HELD);
      await waitUntil(() => client.held.length === HELD, 'held receives');
      const aborts = abortsOf(adapter);
      const written0 = ifStat(tap, 'rx_packets');
      // One turn: a burst far larger than the ring, the deactivation, close().
      const burst = 3000;
      const sent = Array.from({ length: burst }, (_, i) => makeNbl(frame(1400, i)));
      client.sendNbls(sent);
      const deact = cm.deactivate(client.vc);
      expect(deact.status).toBe(NDIS_STATUS_PENDING);
      await dev.close();
      const end = await timed(deact.done);
      expect(end.status).toBe(NDIS_STATUS_REQUEST_ABORTED);
      expect(aborts.map((x) => x.err.code)).toEqual(['ERR_CONDIS_DEVICE_CLOSED']);
      await waitUntil(() => client.completed === burst, 'every send completed');
      const byStatus = expectEachCompletedOnce(sent, client.completedNbls, ['SUCCESS', 'SEND_ABORTED']);
      // Exactly what reached the kernel completed SUCCESS.
      expect(byStatus.SUCCESS ?? 0).toBe(ifStat(tap, 'rx_packets') - written0);
      expect(byStatus.SUCCESS ?? 0).toBeGreaterThan(0);
      expect(byStatus.SEND_ABORTED ?? 0).toBeGreaterThan(0);
      await afterwards(rig);
    },
  );
});
