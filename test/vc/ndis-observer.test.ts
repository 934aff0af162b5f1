// Issue 11 point 3: `new Ndis({ observer: { onDeactivation } })` — the runtime-wide way to time
// drains. The observer hears the record of each VC deactivation (here, a VcChannel's close on the
// wire backend), the same record the channel keeps, and only at deactivations.
import { describe, expect, it } from 'vitest';
import { type DeactivationRecord, NDIS_STATUS_SUCCESS, VcChannel } from '../../lib';
import { frame } from '../helpers/frames';
import { wireRig } from './wire';

describe('NdisOptions.observer.onDeactivation', () => {
  it('receives the record of each VC deactivation', async () => {
    const records: DeactivationRecord[] = [];
    const { ndis, adapter } = wireRig(7, {
      queuePairs: 3,
      ndis: { observer: { onDeactivation: (r) => records.push(r) } },
    });
    const c7 = await VcChannel.open(ndis, adapter, { vid: 7 });
    const c8 = await VcChannel.open(ndis, adapter, { vid: 8 });
    expect(await c7.send(frame(64, 1))).toBe(NDIS_STATUS_SUCCESS);
    expect(records).toEqual([]); // nothing until a deactivation
    expect(await c7.close()).toBe(NDIS_STATUS_SUCCESS);
    expect(records).toHaveLength(1);
    expect(records[0]).toEqual(c7.lastDeactivation);
    expect(records[0]!.vcHandle).toBe(c7.vcHandle);
    expect(records[0]!.status).toBe(NDIS_STATUS_SUCCESS);
    expect(await c8.close()).toBe(NDIS_STATUS_SUCCESS);
    expect(records.map((r) => r.vcHandle)).toEqual([c7.vcHandle, c8.vcHandle]);
    expect(records[1]).toEqual(c8.lastDeactivation);
  });
});
