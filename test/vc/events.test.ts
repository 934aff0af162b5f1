// Issue 11 point 7: VcChannel's events — 'deactivated' (the VC's DeactivationRecord, the same one
// lastDeactivation keeps), 'close' (once, after close() resolved), and 'error' (a device fault
// while the channel is open), which is emitted ONLY when someone listens: EventEmitter throws an
// unheard 'error', and a user who did not subscribe must not be crashed by one. The fault is real:
// Device.testBreakEpoll() makes the device's I/O thread fail ('deviceFailed'). Wire pair.
import { describe, expect, it } from 'vitest';
import {
  type CondisError,
  type DeactivationRecord,
  NDIS_STATUS_SUCCESS,
  pvcCallManagerFor,
  VcChannel,
} from '../../lib';
import { waitUntil } from '../helpers/wait';
import { wireRig, within } from './wire';

describe('VcChannel events', () => {
  it("'deactivated' carries the close's record; 'close' follows once, after close() resolved", async () => {
    const { ndis, adapter } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    const order: string[] = [];
    const records: DeactivationRecord[] = [];
    ch.on('deactivated', (rec) => {
      order.push('deactivated');
      records.push(rec);
    });
    ch.on('close', () => order.push('close'));
    const closed = ch.close().then((st) => {
      order.push('close() resolved');
      return st;
    });
    expect(await closed).toBe(NDIS_STATUS_SUCCESS);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['deactivated', 'close() resolved', 'close']);
    expect(records).toHaveLength(1);
    const rec = records[0]!;
    expect(rec).toBe(ch.lastDeactivation);
    expect(rec.vcHandle).toBe(ch.vcHandle);
    expect(rec.status).toBe(NDIS_STATUS_SUCCESS);
    expect(rec.completed).toBeGreaterThanOrEqual(rec.begin);
    // close() again: the same status, no second 'close'.
    expect(await ch.close()).toBe(NDIS_STATUS_SUCCESS);
    await new Promise((r) => setImmediate(r));
    expect(order.filter((e) => e === 'close')).toHaveLength(1);
  });

  it("a network-initiated close emits 'deactivated' and 'close' and ends the reader", async () => {
    const { ndis, adapter } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    const records: DeactivationRecord[] = [];
    ch.on('deactivated', (rec) => records.push(rec));
    const closeEvent = new Promise<void>((r) => ch.once('close', () => r()));
    const reading = ch.receive();
    pvcCallManagerFor(ndis, adapter.handle).teardown(ch.vcHandle);
    expect(await within(reading, 'the reader ending')).toBeUndefined();
    await within(closeEvent, "the 'close' event");
    expect(records.map((r) => r.status)).toEqual([NDIS_STATUS_SUCCESS]);
    expect(ch.closed).toBe(true);
    expect(ndis.vcCount).toBe(0);
  });

  it("'error' reaches a listener (a device fault) and is not emitted to a channel nobody listens on", async () => {
    const { ndis, adapter, a } = wireRig(7, { queuePairs: 3 });
    const heard = await VcChannel.open(ndis, adapter, { vid: 7 });
    const unheard = await VcChannel.open(ndis, adapter, { vid: 8 });
    const errors: CondisError[] = [];
    heard.on('error', (e) => errors.push(e));
    // An 'error' emitted with no listener throws, from inside the device's interrupt callback,
    // which raises it as uncaught (native/device_wrap.cc Deliver; before, Node 20 swallowed it
    // with the DEP0168 warning, so that is watched for too). Either is caught.
    const thrown: unknown[] = [];
    const onUncaught = (e: unknown) => thrown.push(e);
    const onWarning = (w: Error & { code?: string }) => {
      if (w.code === 'DEP0168') thrown.push(w);
    };
    process.prependListener('uncaughtException', onUncaught);
    process.on('warning', onWarning);
    try {
      a.testBreakEpoll();
      await waitUntil(() => errors.length === 1, "the listener's 'error'");
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off('uncaughtException', onUncaught);
      process.off('warning', onWarning);
    }
    expect(errors[0]!.code).toBe('ERR_CONDIS_DEVICE_FAILED');
    expect(errors).toHaveLength(1);
    expect(thrown).toEqual([]);
    expect(unheard.listenerCount('error')).toBe(0);
    // Both still close (the drain does not wait on a dead device), and stop listening to it.
    await within(heard.close(), 'closing the channel that heard the fault');
    await within(unheard.close(), 'closing the other');
    expect(a.listenerCount('deviceFailed')).toBe(1); // the miniport's own, not the channels'
  });
});
