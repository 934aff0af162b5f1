// The CoNDIS miniport on a real TAP, the kernel as the far end: tagged frames are built by hand
// and sent/captured with AF_PACKET on the TAP itself (this kernel may lack 802.1Q, so no VLAN
// subinterface). Runs as root; mandatory under CI=true. (The TAP deleted in the middle of a
// drain: test/faults/tap-deleted-mid-drain.test.ts.)
import { afterEach, describe, expect, it } from 'vitest';
import type { Device } from '../../lib/device';
import { condisCallParameters, VcState } from '../../lib/miniport';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { taggedHex } from '../helpers/frames';
import { ifName, openQuietTap, packetCapture, packetSend, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';
import { inOrder, makeRig, TestClient, traceNames } from './harness';

const enabled = tapTestsEnabled('miniport-tap');

let dev: Device | undefined;
let tap = '';
afterEach(async () => {
  dev?.destroy();
  dev = undefined;
  if (tap) shQuiet('ip', ['link', 'del', tap]);
  tap = '';
});

function openRig(deadlineMs?: number) {
  tap = ifName('ctm');
  dev = openQuietTap({ name: tap, queuePairs: 3, queueSize: 64 });
  return makeRig(dev, deadlineMs ? { deactivationDeadlineMs: deadlineMs } : {});
}

describe.runIf(enabled)('CoNDIS miniport on a TAP', () => {
  it('frames both ways on the VC, tagged with its VID on the wire', async () => {
    const rig = openRig();
    const { client } = rig;
    expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const cap = packetCapture(tap, 0x8100, 30);
    await cap.ready;
    client.sendFrames(30, 100, 90);
    const got = await cap.done;
    expect(got.length).toBe(30);
    expect(got.every((h) => (Number.parseInt(h.slice(28, 32), 16) & 0xfff) === 42)).toBe(true);
    expect(got.map((h) => Number.parseInt(h.slice(36, 44), 16))).toEqual(
      Array.from({ length: 30 }, (_, i) => 100 + i),
    );
    await waitUntil(() => client.completed === 30, 'send completions');
    expect(client.status('SUCCESS')).toBe(30);
    packetSend(tap, taggedHex(70, 555, 42), 25);
    await waitUntil(() => client.rxFrames === 25, '25 frames from the host');
    expect(client.rxSeqs.every((s) => s === 555)).toBe(true);
    expect(client.returned).toBe(25);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
  });

  it('deactivation with held receives pends, completes on their return, and the VID is then dropped', async () => {
    const rig = openRig();
    const { client, cm, ndis, adapter } = rig;
    expect(await client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    const vc = adapter.vcFor(client.vc)!;
    client.hold = true;
    packetSend(tap, taggedHex(70, 7, 42), 10);
    await waitUntil(() => client.held.length === 10, '10 held receives');
    client.sendFrames(20, 0);
    ndis.trace?.clear();
    // (On a TAP the sends may complete before or during the drain; both are legal.)
    const deact = cm.teardown(client.vc);
    expect(deact.status).toBe(NDIS_STATUS_PENDING);
    expect(client.incomingClose).toBe(1);
    await waitUntil(() => client.completed === 20, 'sends completed during the drain');
    await new Promise((r) => setTimeout(r, 20));
    expect(vc.state).toBe(VcState.Draining);
    client.returnHeld();
    expect(await deact.done).toBe(NDIS_STATUS_SUCCESS);
    expect(
      inOrder(traceNames(ndis, client.vc), [
        'NdisCmDispatchIncomingCloseCall:SUCCESS',
        'ProtocolClIncomingCloseCall',
        'NdisCmDeactivateVc',
        'MiniportCoDeactivateVc',
        'NdisReturnNetBufferLists',
        'MiniportReturnNetBufferLists',
        'NdisMCoDeactivateVcComplete:SUCCESS',
        'ProtocolCmDeactivateVcComplete:SUCCESS',
      ]),
    ).toBe(true);
    // The host's frames for VID 42 are now dropped by the device, and nothing is indicated.
    // The device reads the TAP only while some receive queue has buffers (else frames wait in
    // the kernel, as Firecracker defers RX), so another VC keeps it reading.
    const other = new TestClient(ndis, adapter, 'other-client');
    expect(await other.connect(condisCallParameters(43))).toBe(NDIS_STATUS_SUCCESS);
    const indications = client.indications;
    const before = dev!.stats().rxUnboundVid;
    packetSend(tap, taggedHex(70, 8, 42), 12);
    await waitUntil(() => dev!.stats().rxUnboundVid - before === 12, 'unbound-VID drops');
    expect(client.indications).toBe(indications);
    expect(other.rxFrames).toBe(0);
    expect(await other.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(client.given).toBe(client.completed);
    expect(client.returned).toBe(client.rxFrames);
    expect(await client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  });
});
