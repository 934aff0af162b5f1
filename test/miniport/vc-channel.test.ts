// VcChannel: the plain Node surface (frames in, frames out, statuses as promises) over the same
// miniport, through a CoNDIS client and the PvcCallManager. Wire backend, no privileges.
import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { VcChannel } from '../../lib/vc';
import { frame, seqOf } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';
import { wireRig } from '../vc/wire';

describe('VcChannel', () => {
  it('send() resolves on completion and the async iterator yields received frames', async () => {
    const { ndis, adapter, peer, seen } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter.handle, { vid: 7 });
    const statuses = await Promise.all(Array.from({ length: 100 }, (_, i) => ch.send(frame(64, i))));
    expect(statuses.every((s) => s === NDIS_STATUS_SUCCESS)).toBe(true);
    await waitUntil(() => seen.length === 100, 'frames at the far end');
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (let i = 0; i < 30; i++) peer.send(frame(80, 1000 + i));
    peer.flush();
    const got: number[] = [];
    for await (const f of ch) {
      expect(f.length).toBe(80);
      got.push(seqOf(f, 0));
      if (got.length === 30) break;
    }
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => 1000 + i));
    // The channel returned every NBL at once: nothing is held by NDIS's count.
    expect(ndis.vcInfo(ch.vcHandle)?.rxHeld).toBe(0);
    expect(await ch.close()).toBe(NDIS_STATUS_SUCCESS);
    await expect(ch.send(frame(64, 0))).rejects.toMatchObject({ code: 'ERR_CONDIS_CHANNEL_CLOSED' });
    expect(await ch.receive()).toBeUndefined();
    expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
    expect(adapter.poolCounts().freePairs).toBe(1);
    expect(ndis.vcCount).toBe(0);
  });

  it('a second channel on a VID in use fails to open', async () => {
    const { ndis, adapter } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter.handle, { vid: 7 });
    await expect(VcChannel.open(ndis, adapter.handle, { vid: 7 })).rejects.toThrow(/INVALID_DATA/);
    await expect(VcChannel.open(ndis, adapter.handle, { vid: 7 })).rejects.toMatchObject({
      code: 'ERR_CONDIS_VID_IN_USE',
    });
    await expect(VcChannel.open(ndis, adapter.handle, { vid: 5000 })).rejects.toMatchObject({
      code: 'ERR_CONDIS_INVALID_ARG',
    });
    expect(await ch.close()).toBe(NDIS_STATUS_SUCCESS);
  });
});
