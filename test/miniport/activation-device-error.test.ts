// An activation the device refuses (Device.bindPair throws) fails with the NDIS status NDIS's
// rules expect, INVALID_STATE, and keeps the device's error code where the VC's owner and a trace
// reader find it: MiniportVc.lastActivateError and a 'MiniportCoActivateVc' trace note. The
// miniport used to swallow it (issue 10, point 5), so a refused binding read the same whatever
// the device said.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, openWirePair } from '../../lib/device';
import { CondisError } from '../../lib/errors';
import { condisCallParameters } from '../../lib/miniport';
import { NDIS_STATUS_INVALID_STATE, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { makeRig } from './harness';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

function setup() {
  const [a, b] = openWirePair({ queuePairs: 3, queueSize: 64 });
  open.push(a, b);
  return { a, rig: makeRig(a, { trace: true }) };
}

describe('an activation the device refuses', () => {
  it("exposes the device's code (VID already bound on the device), and a retry clears it", async () => {
    const { a, rig } = setup();
    // Someone else bound VID 42 to pair 2 behind the miniport's back: the miniport takes pair 1
    // and the device refuses to bind a VID twice.
    a.bindPair(2, 42);
    expect(await rig.client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_INVALID_STATE);
    const vc = rig.adapter.vcFor(rig.client.vc)!;
    const err = vc.lastActivateError;
    expect(err).toBeInstanceOf(CondisError);
    expect(err?.code).toBe('ERR_CONDIS_VID_IN_USE');
    expect(err?.details).toMatchObject({ vid: 42, pair: 1 });
    expect((err?.cause as CondisError | undefined)?.code).toBe('ERR_CONDIS_VID_IN_USE');
    const notes = (rig.ndis.trace?.events ?? []).filter(
      (e) => e.name === 'MiniportCoActivateVc' && e.kind === 'note',
    );
    expect(notes.map((e) => [e.detail, e.vc])).toEqual([
      ['ERR_CONDIS_VID_IN_USE', rig.ndis.vcInfo(rig.client.vc)?.slot],
    ]);
    // The pair went back to the free list; nothing leaked.
    expect(rig.adapter.poolCounts().freePairs).toBe(2);
    expect(rig.adapter.poolCounts().free).toBe(rig.adapter.poolCounts().capacity);
    // Once the device's binding is gone, the same VC activates, and the error describes the last
    // attempt only.
    a.unbindPair(2);
    rig.ndis.coDeleteVc(rig.client.vc);
    expect(await rig.client.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    expect(rig.adapter.vcFor(rig.client.vc)?.lastActivateError).toBeUndefined();
    expect(await rig.client.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
  });

  it("exposes the device's code when the device was closed under the miniport", async () => {
    const { a, rig } = setup();
    await a.close();
    expect(await rig.client.connect(condisCallParameters(7))).toBe(NDIS_STATUS_INVALID_STATE);
    const err = rig.adapter.vcFor(rig.client.vc)?.lastActivateError;
    expect(err?.code).toBe('ERR_CONDIS_DEVICE_CLOSED');
    expect(err?.details).toMatchObject({ vid: 7, pair: 1 });
    expect(rig.adapter.poolCounts().freePairs).toBe(2);
  });
});
