// Issue 11 point 7: VcChannel.stream(), a Node Duplex over the VC, through stream/promises'
// pipeline — frames in (writes are sends, with backpressure at maxInFlight), frames out (reads are
// received frames), and both pipelines end cleanly: the writing one once every send completed,
// the reading one when its channel closes. Two channels on one VID, one per wire device.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS, VcChannel } from '../../lib';
import { frame, seqOf } from '../helpers/frames';
import { twoMiniports, wireRig, within } from './wire';

const N = 200;

describe('VcChannel.stream() through pipeline()', () => {
  it('frames written on one channel come out of the other, in order; both pipelines end', async () => {
    const { ndis, left, right } = twoMiniports();
    const rx = await VcChannel.open(ndis, right, { vid: 7 });
    const tx = await VcChannel.open(ndis, left, { vid: 7 });
    const got: number[] = [];
    const out = pipeline(
      rx.stream(),
      new Writable({
        objectMode: true,
        write(f: Uint8Array, _enc, cb) {
          got.push(seqOf(f, 0));
          // All in: closing the channel ends its stream's readable side, and so the pipeline.
          if (got.length === N) void rx.close();
          cb();
        },
      }),
    );
    // maxInFlight 8 < N: writes wait for completions (backpressure) on the way.
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < N; i++) yield frame(64, i);
      })(),
    );
    await within(pipeline(source, tx.stream({ maxInFlight: 8 })), 'the writing pipeline');
    expect(tx.sent).toBe(N);
    expect(tx.completed).toBe(N);
    await within(out, 'the reading pipeline');
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(rx.dropped).toBe(0);
    expect(await tx.close()).toBe(NDIS_STATUS_SUCCESS);
    expect(ndis.vcCount).toBe(0);
  });

  it('a write on a closed channel errors the pipeline with ERR_CONDIS_CHANNEL_CLOSED', async () => {
    const { ndis, adapter } = wireRig(7);
    const ch = await VcChannel.open(ndis, adapter, { vid: 7 });
    expect(await ch.close()).toBe(NDIS_STATUS_SUCCESS);
    const source = Readable.from([frame(64, 0), frame(64, 1)]);
    await expect(within(pipeline(source, ch.stream()), 'the failing pipeline')).rejects.toMatchObject({
      code: 'ERR_CONDIS_CHANNEL_CLOSED',
    });
  });
});
