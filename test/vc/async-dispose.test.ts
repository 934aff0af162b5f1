// Issue 11 point 7: `await using` (Symbol.asyncDispose) on VcChannel and Device closes them at
// the end of the scope — on a normal exit and on a throw. The syntax itself is used (TypeScript
// 5.2+ lowers it for the repo's ES2022 target; vitest's esbuild lowers it too), so a channel
// without Symbol.asyncDispose fails to compile and to run. Real wire pair (test/vc/wire.ts).
import { describe, expect, it } from 'vitest';
import { type Device, NDIS_STATUS_SUCCESS, openWirePair, VcChannel } from '../../lib';
import { frame } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';
import { wireRig } from './wire';

describe('await using', () => {
  it('closes a VcChannel at the end of its scope: the call closed, the VC deleted', async () => {
    const { ndis, adapter, seen } = wireRig(7);
    const freePairs = adapter.poolCounts().freePairs;
    let kept: VcChannel | undefined;
    {
      await using ch = await VcChannel.open(ndis, adapter, { vid: 7 });
      kept = ch;
      expect(await ch.send(frame(64, 1))).toBe(NDIS_STATUS_SUCCESS);
      expect(ndis.vcCount).toBe(1);
    }
    expect(kept.closed).toBe(true);
    expect(kept.lastDeactivation?.status).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.vcCount).toBe(0);
    expect(adapter.poolCounts().freePairs).toBe(freePairs);
    await waitUntil(() => seen.length === 1, 'the frame at the far end');
  });

  it('closes it when the scope is left by a throw', async () => {
    const { ndis, adapter } = wireRig(7);
    let kept: VcChannel | undefined;
    const run = async () => {
      await using ch = await VcChannel.open(ndis, adapter, { vid: 7 });
      kept = ch;
      throw new Error('the scope fails');
    };
    await expect(run()).rejects.toThrow('the scope fails');
    expect(kept?.closed).toBe(true);
    expect(ndis.vcCount).toBe(0);
    // The VID is free again.
    const again = await VcChannel.open(ndis, adapter, { vid: 7 });
    expect(await again.close()).toBe(NDIS_STATUS_SUCCESS);
  });

  it('closes a Device at the end of its scope', async () => {
    let a: Device | undefined;
    let b: Device | undefined;
    try {
      {
        const pair = openWirePair({ queuePairs: 1, queueSize: 64 });
        [a, b] = pair;
        await using da = pair[0];
        await using db = pair[1];
        expect(da.closed || db.closed).toBe(false);
      }
      expect(a.closed).toBe(true);
      expect(b.closed).toBe(true);
    } finally {
      a?.destroy();
      b?.destroy();
    }
  });
});
