// Issue 11 point 3 on a real device: the DeactivationRecord of a VcChannel's VC on the wire
// backend (the unit test, test/unit/ndis/deactivation-record.test.ts, times it on a ManualClock).
// Sends are held in the device (Device.testHoldTx) so they are in flight for certain: close()
// waits for them before closing the call (spec §1.2-G), so its deactivation begins after the last
// completion with nothing in flight; a deactivation the call manager starts under them (a
// network-initiated close) counts them in inFlight.sends, and drains when the device lets them go.
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS, type NdisStatus, pvcCallManagerFor, VcChannel } from '../../lib';
import { frame } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';
import { pending, wireRig, within } from './wire';

const N = 6;

describe('DeactivationRecord on the wire backend', () => {
  it('close() with sends in flight: it waits for them, then the drain is empty and SUCCESS', async () => {
    const { ndis, adapter, a, seen } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    a.testHoldTx(true);
    let lastCompletion = 0;
    const sends = Array.from({ length: N }, (_, i) =>
      ch.send(frame(64, i)).then((st) => {
        lastCompletion = performance.now();
        return st;
      }),
    );
    const closing = ch.close();
    expect(await pending(closing)).toBe(true);
    expect(ch.lastDeactivation).toBeUndefined(); // not begun: the sends are still out
    expect(ndis.vcInfo(ch.vcHandle)?.txInMiniport).toBe(N);
    a.testHoldTx(false);
    expect(await within(closing, 'the close')).toBe(NDIS_STATUS_SUCCESS);
    expect(await Promise.all(sends)).toEqual(Array(N).fill(NDIS_STATUS_SUCCESS));
    const rec = ch.lastDeactivation!;
    expect(rec).toBeDefined();
    expect(rec.vcHandle).toBe(ch.vcHandle);
    expect(rec.status).toBe(NDIS_STATUS_SUCCESS);
    expect(rec.inFlight).toEqual({ sends: 0, receives: 0 });
    expect(rec.begin).toBeGreaterThanOrEqual(lastCompletion);
    expect(rec.drained).toBeGreaterThanOrEqual(rec.begin);
    expect(rec.completed).toBeGreaterThanOrEqual(rec.drained!);
    await waitUntil(() => seen.length === N, 'the frames at the far end');
  });

  it('a deactivation under sends in flight counts them and drains when the last completes', async () => {
    const { ndis, adapter, a, seen } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    a.testHoldTx(true);
    const sends: Promise<NdisStatus>[] = Array.from({ length: N }, (_, i) => ch.send(frame(64, i)));
    const deactivated = new Promise((r) => ch.once('deactivated', r));
    // The call manager closes the call from the network side: the deactivation begins now.
    const tBegin = performance.now();
    const { done } = pvcCallManagerFor(ndis, adapter.handle).teardown(ch.vcHandle);
    expect(await pending(done)).toBe(true); // the drain waits on the held sends
    const tRelease = performance.now();
    a.testHoldTx(false);
    expect(await within(done, 'the deactivation')).toBe(NDIS_STATUS_SUCCESS);
    await within(deactivated, "the 'deactivated' event");
    const rec = ch.lastDeactivation!;
    expect(rec.status).toBe(NDIS_STATUS_SUCCESS);
    expect(rec.inFlight.sends).toBe(N);
    expect(rec.inFlight.receives).toBe(0);
    expect(rec.begin).toBeGreaterThanOrEqual(tBegin);
    expect(rec.begin).toBeLessThan(tRelease);
    expect(rec.drained).toBeGreaterThanOrEqual(tRelease); // not before the device let them go
    expect(rec.completed).toBeGreaterThanOrEqual(rec.drained!);
    // The sends were on the wire before the deactivation: they complete, and arrive.
    expect(await within(Promise.all(sends), 'the sends')).toEqual(Array(N).fill(NDIS_STATUS_SUCCESS));
    await waitUntil(() => seen.length === N, 'the frames at the far end');
    // The channel closes itself after the network's close.
    await waitUntil(() => ndis.vcCount === 0, 'the channel closing after the teardown');
    expect(ch.closed).toBe(true);
  });
});
