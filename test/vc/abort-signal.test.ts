// Issue 11 point 7: AbortSignal on VcChannel's long operations — open, a waiting receive(), a
// waiting frames() iterator, close()'s wait. Each rejects with Node's AbortError shape (name
// 'AbortError', code 'ABORT_ERR', the signal's reason as cause) and leaves nothing behind: an
// aborted open undoes what it made, an aborted read loses no frame, an aborted close wait does
// not stop the close. Real wire pair (test/vc/wire.ts).
import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS, VcChannel } from '../../lib';
import { frame, seqOf } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';
import { pending, wireRig, within } from './wire';

const ABORTED = { name: 'AbortError', code: 'ABORT_ERR' };

describe('VcChannel and AbortSignal', () => {
  it('open with an already-aborted signal rejects before any NDIS call', async () => {
    const { ndis, adapter } = wireRig(7);
    const reason = new Error('no longer wanted');
    const err = await VcChannel.open(ndis, adapter, { vid: 7, signal: AbortSignal.abort(reason) }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject(ABORTED);
    expect((err as Error).cause).toBe(reason);
    expect(ndis.vcCount).toBe(0);
    const names = ndis.trace!.names();
    for (const call of ['NdisOpenAdapterEx', 'NdisClOpenAddressFamilyEx', 'NdisCoCreateVc', 'NdisClMakeCall'])
      expect(names).not.toContain(call);
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    expect(await ch.close()).toBe(NDIS_STATUS_SUCCESS);
  });

  it('an abort during open undoes the call, the VC and the address family: the VID is free again', async () => {
    const { ndis, adapter, peer, seen } = wireRig(7);
    const freePairs = adapter.poolCounts().freePairs;
    const ac = new AbortController();
    // open() runs synchronously up to its wait for NdisClMakeCall: the abort lands in that wait.
    const opening = VcChannel.open(ndis, adapter, { vid: 7, signal: ac.signal });
    ac.abort();
    await expect(opening).rejects.toMatchObject(ABORTED);
    // The call was made (NDIS cannot take it back), then closed and everything before it undone.
    const names = ndis.trace!.names();
    expect(names).toContain('NdisClMakeCall');
    expect(names).toContain('NdisClCloseCall');
    expect(names).toContain('NdisCoDeleteVc');
    expect(names).toContain('NdisClCloseAddressFamily');
    expect(ndis.vcCount).toBe(0);
    expect(adapter.poolCounts().freePairs).toBe(freePairs);
    // The same VID opens again, and carries frames both ways.
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    expect(await ch.send(frame(64, 1))).toBe(NDIS_STATUS_SUCCESS);
    peer.send(frame(64, 2));
    peer.flush();
    const f = await within(ch.receive(), 'a frame on the reopened VID');
    expect(seqOf(f!, 0)).toBe(2);
    await waitUntil(() => seen.length === 1, 'the frame at the far end');
    expect(seen).toEqual([1]);
    expect(await ch.close()).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.vcCount).toBe(0);
  });

  it('an aborted receive() rejects and loses no frame: the next reader gets the one sent after', async () => {
    const { ndis, adapter, peer } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    const ac = new AbortController();
    const waiting = ch.receive({ signal: ac.signal });
    expect(await pending(waiting)).toBe(true);
    const reason = new Error('stop reading');
    ac.abort(reason);
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toMatchObject(ABORTED);
    expect((err as Error).cause).toBe(reason);
    // A frame that arrives after the abort is not handed to the aborted reader.
    peer.send(frame(70, 11));
    peer.flush();
    const f = await within(ch.receive(), 'the frame sent after the abort');
    expect(f!.length).toBe(70);
    expect(seqOf(f!, 0)).toBe(11);
    expect(ch.received).toBe(1);
    expect(ch.dropped).toBe(0);
    // An already-aborted signal rejects at once, even with nothing queued.
    await expect(ch.receive({ signal: AbortSignal.abort() })).rejects.toMatchObject(ABORTED);
    expect(await ch.close()).toBe(NDIS_STATUS_SUCCESS);
  });

  it('an abort ends a for-await over frames({ signal }) with AbortError; the frames after it wait', async () => {
    const { ndis, adapter, peer } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    const ac = new AbortController();
    const got: number[] = [];
    const reading = (async () => {
      for await (const f of ch.frames({ signal: ac.signal })) {
        got.push(seqOf(f, 0));
        if (got.length === 3) setTimeout(() => ac.abort(), 5); // aborts the 4th next(), waiting
      }
    })();
    for (let i = 0; i < 3; i++) peer.send(frame(64, 100 + i));
    peer.flush();
    await expect(within(reading, 'the aborted for-await')).rejects.toMatchObject(ABORTED);
    expect(got).toEqual([100, 101, 102]);
    // The channel is still open: what arrives now is for the next reader.
    peer.send(frame(64, 103));
    peer.flush();
    const it = ch.frames();
    const r = await within(it.next(), 'the frame after the abort');
    expect(seqOf(r.value as Uint8Array, 0)).toBe(103);
    expect(ch.dropped).toBe(0);
    expect(await ch.close()).toBe(NDIS_STATUS_SUCCESS);
    expect((await it.next()).done).toBe(true);
  });

  it("an abort of close()'s wait rejects, the close runs on; a later close() returns its status", async () => {
    const { ndis, adapter, a, seen } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    // Sends held in the device: close() waits for their completions before it closes the call.
    a.testHoldTx(true);
    const sends = Array.from({ length: 5 }, (_, i) => ch.send(frame(64, i)));
    const ac = new AbortController();
    const closing = ch.close({ signal: ac.signal });
    expect(await pending(closing)).toBe(true);
    ac.abort();
    await expect(closing).rejects.toMatchObject(ABORTED);
    expect(ch.closed).toBe(true); // the close was not taken back: sends are refused
    await expect(ch.send(frame(64, 9))).rejects.toMatchObject({ code: 'ERR_CONDIS_CHANNEL_CLOSED' });
    expect(ndis.vcCount).toBe(1);
    a.testHoldTx(false);
    expect(await within(Promise.all(sends), 'the held sends')).toEqual(Array(5).fill(NDIS_STATUS_SUCCESS));
    expect(await within(ch.close(), 'the close')).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.vcCount).toBe(0);
    await waitUntil(() => seen.length === 5, 'the held frames at the far end');
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    // An already-aborted signal on a finished close still rejects (the wait is what it aborts).
    await expect(ch.close({ signal: AbortSignal.abort() })).rejects.toMatchObject(ABORTED);
  });
});
