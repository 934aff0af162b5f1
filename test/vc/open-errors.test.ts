// Issue 11 point 6: VcChannel.open's coded failures that NDIS reports — ERR_CONDIS_NO_FREE_PAIR
// (more channels than the miniport has queue pairs to lend: NdisClMakeCall fails with RESOURCES)
// and ERR_CONDIS_CALL_FAILED (the miniport refuses the call: call parameters asking for a frame
// larger than its buffers, NDIS_STATUS_INVALID_DATA, on a VID no VC carries). Each failure leaves
// nothing behind: no VC, every pair and buffer back, and the next open works. Wire pair.
import { describe, expect, it } from 'vitest';
import {
  CondisError,
  condisCallParameters,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  VcChannel,
} from '../../lib';
import { wireRig } from './wire';

describe('VcChannel.open failures', () => {
  it('ERR_CONDIS_NO_FREE_PAIR when every queue pair is lent; the next open works once one is back', async () => {
    // 3 pairs: pair 0 is untagged, 1 and 2 can carry VCs.
    const { ndis, adapter } = wireRig(7, { queuePairs: 3 });
    const before = adapter.poolCounts();
    expect(before.freePairs).toBe(2);
    const c7 = await VcChannel.open(ndis, adapter, { vid: 7 });
    const c8 = await VcChannel.open(ndis, adapter, { vid: 8 });
    const err = await VcChannel.open(ndis, adapter, { vid: 9 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CondisError);
    expect(err).toMatchObject({
      code: 'ERR_CONDIS_NO_FREE_PAIR',
      details: { vid: 9, status: NDIS_STATUS_RESOURCES },
    });
    expect((err as Error).message).toMatch(/VID 9/);
    // Nothing of the failed open is left: two VCs, no pair taken.
    expect(ndis.vcCount).toBe(2);
    expect(adapter.poolCounts().freePairs).toBe(0);
    // Again: the same answer (the failed open released what it had).
    await expect(VcChannel.open(ndis, adapter, { vid: 9 })).rejects.toMatchObject({
      code: 'ERR_CONDIS_NO_FREE_PAIR',
    });
    expect(await c8.close()).toBe(NDIS_STATUS_SUCCESS);
    const c9 = await VcChannel.open(ndis, adapter, { vid: 9 });
    expect(await c9.send(new Uint8Array(60))).toBe(NDIS_STATUS_SUCCESS);
    expect(await c9.close()).toBe(NDIS_STATUS_SUCCESS);
    expect(await c7.close()).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.vcCount).toBe(0);
    expect(adapter.poolCounts()).toEqual(before);
  });

  it('ERR_CONDIS_CALL_FAILED when the miniport refuses the call; the VID opens after', async () => {
    const { ndis, adapter } = wireRig(7);
    const before = adapter.poolCounts();
    // A maximum SDU beyond the miniport's buffers, without ROUND_DOWN_FLOW: INVALID_DATA.
    const tooBig = condisCallParameters(7, { maxSduSize: adapter.frameCapacity + 1 });
    const err = await VcChannel.open(ndis, adapter, { vid: 7, callParameters: tooBig }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CondisError);
    expect(err).toMatchObject({
      code: 'ERR_CONDIS_CALL_FAILED',
      details: { vid: 7, status: NDIS_STATUS_INVALID_DATA },
    });
    expect((err as Error).message).toMatch(/NdisClMakeCall on VID 7 failed: INVALID_DATA \(0xc0010015\)/);
    expect(ndis.vcCount).toBe(0);
    expect(adapter.poolCounts()).toEqual(before);
    // Not mistaken for a VID in use: the VID is free, and opens with parameters that fit.
    const ch = await VcChannel.open(ndis, adapter, {
      vid: 7,
      callParameters: condisCallParameters(7, { maxSduSize: adapter.frameCapacity }),
    });
    expect(await ch.send(new Uint8Array(60))).toBe(NDIS_STATUS_SUCCESS);
    expect(await ch.close()).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.vcCount).toBe(0);
    expect(adapter.poolCounts()).toEqual(before);
  });
});
