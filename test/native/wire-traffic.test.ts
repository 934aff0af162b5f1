// Frames both ways over the wire backend (no privileges), exact counts, VID steering per pair.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import { frame, seqOf, tagOf } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';

let open: Device[] = [];
afterEach(async () => {
  for (const d of open) d.destroy();
  open = [];
});

function ports(dev: Device): FramePort[] {
  const ps: FramePort[] = [];
  for (let p = 0; p < dev.queuePairs; p++) ps.push(new FramePort(dev, p));
  dev.onInterrupt = () => {
    for (const p of ps) p.poll();
  };
  return ps;
}

describe('wire: frames both ways with exact counts', () => {
  it.each([1, 4, 16])('%i queue pairs', async (pairs) => {
    const [a, b] = openWirePair({ queuePairs: pairs, queueSize: 128 });
    open.push(a, b);
    for (let p = 1; p < pairs; p++) {
      a.bindPair(p, 100 + p);
      b.bindPair(p, 100 + p);
    }
    const pa = ports(a);
    const pb = ports(b);
    // Record the pair number carried in each frame, per receiving pair.
    const seenB: number[][] = pb.map(() => []);
    const seenA: number[][] = pa.map(() => []);
    pb.forEach((port, k) => {
      port.onFrame = (bytes, off) => seenB[k]!.push(tagOf(bytes, off));
      port.postRx();
    });
    pa.forEach((port, k) => {
      port.onFrame = (bytes, off) => seenA[k]!.push(tagOf(bytes, off));
      port.postRx();
    });
    const perPair = 300; // more than the queue holds: exercises flow control on the wire
    const pump = () => {
      for (let k = 0; k < pairs; k++) {
        for (const [from, sent] of [
          [pa[k]!, pa[k]!.sent],
          [pb[k]!, pb[k]!.sent],
        ] as const) {
          let s = sent;
          while (s < perPair && from.send(frame(64 + k, s, k))) s++;
          from.flush();
        }
      }
    };
    await waitUntil(
      () => {
        pump();
        return seenB.every((s) => s.length === perPair) && seenA.every((s) => s.length === perPair);
      },
      'all frames on every pair',
      10_000,
    );
    for (let k = 0; k < pairs; k++) {
      expect(seenB[k]!.every((t) => t === k)).toBe(true);
      expect(seenA[k]!.every((t) => t === k)).toBe(true);
    }
    await waitUntil(
      () => pa.every((p) => p.txDone === perPair) && pb.every((p) => p.txDone === perPair),
      'completions',
    );
    const sa = a.stats();
    const sb = b.stats();
    for (let k = 0; k < pairs; k++) {
      expect(sa.pairs[k]!.txFrames).toBe(perPair);
      expect(sb.pairs[k]!.rxFrames).toBe(perPair);
      expect(sb.pairs[k]!.txFrames).toBe(perPair);
      expect(sa.pairs[k]!.rxFrames).toBe(perPair);
      expect(sa.pairs[k]!.vid).toBe(k === 0 ? 0 : 100 + k);
      expect(sb.pairs[k]!.rxNoBuffer).toBe(0);
    }
    expect(sa.rxUnboundVid + sb.rxUnboundVid).toBe(0);
  });

  it('a VID bound on the sender but not on the receiver is dropped and counted', async () => {
    const [a, b] = openWirePair({ queuePairs: 2 });
    open.push(a, b);
    a.bindPair(1, 42);
    const [, a1] = ports(a);
    const [b0] = ports(b);
    b0!.postRx();
    for (let i = 0; i < 10; i++) a1!.send(frame(64, i));
    a1!.flush();
    await waitUntil(() => a1!.txDone === 10, 'sends complete');
    expect(b.stats().rxUnboundVid).toBe(10);
    expect(b0!.received).toBe(0);
  });

  it('stopReceive stops one receive queue: its frames are dropped (rxNoBuffer), its transmit queue keeps going, unharvested frames are counted, bindPair restarts it', async () => {
    const [a, b] = openWirePair({ queuePairs: 2, queueSize: 16 });
    open.push(a, b);
    a.bindPair(1, 42);
    b.bindPair(1, 42);
    const a1 = new FramePort(a, 1);
    const b1 = new FramePort(b, 1);
    a.onInterrupt = () => a1.poll();
    // b is not harvested: 3 frames placed in its buffers stay unharvested.
    b1.postRx();
    for (let i = 0; i < 3; i++) a1.send(frame(64, i));
    a1.flush();
    await waitUntil(() => a1.txDone === 3, '3 sent');
    const out = new Uint32Array(16);
    const [reclaimed, discarded] = b.stopReceive(1, out);
    expect(discarded).toBe(3);
    expect(reclaimed).toBe(16); // every buffer posted, used or not, is the driver's again
    b1.rxPool.freeMany(out, reclaimed);
    // Frames for the stopped queue are dropped by the device, counted.
    for (let i = 0; i < 4; i++) a1.send(frame(64, 10 + i));
    a1.flush();
    await waitUntil(() => b.stats().pairs[1]!.rxNoBuffer === 4, '4 dropped');
    // b's transmit queue on the same pair still sends.
    const a1got: number[] = [];
    a1.onFrame = (bytes, off) => a1got.push(seqOf(bytes, off));
    a1.postRx();
    for (let i = 0; i < 2; i++) b1.send(frame(64, 20 + i));
    b1.flush();
    await waitUntil(() => a1got.length === 2, 'b still sends');
    // A new binding restarts the queue, empty.
    b.unbindPair(1);
    b.bindPair(1, 42);
    b.onInterrupt = () => b1.poll();
    b1.postRx();
    const before = b1.received;
    a1.send(frame(64, 30));
    a1.flush();
    await waitUntil(() => b1.received === before + 1, 'received after the restart');
  });

  it('frames on an unbound pair complete with TxStatus.Unbound', async () => {
    const [a, b] = openWirePair({ queuePairs: 2 });
    open.push(a, b);
    const [, a1] = ports(a);
    for (let i = 0; i < 5; i++) a1!.send(frame(64, i));
    a1!.flush();
    await waitUntil(() => a1!.txFailed === 5, 'refusals');
    expect(a1!.txStatusCounts[1]).toBe(5);
    expect(a.stats().pairs[1]!.txUnbound).toBe(5);
  });

  it('every index wraps past 65535 with frames in order', async () => {
    const [a, b] = openWirePair({ queuePairs: 1, queueSize: 64 });
    open.push(a, b);
    const [pa] = ports(a);
    const [pb] = ports(b);
    let expectSeq = 0;
    let outOfOrder = 0;
    pb!.onFrame = (bytes, off) => {
      if (seqOf(bytes, off) !== expectSeq) outOfOrder++;
      expectSeq++;
    };
    pb!.postRx();
    const total = 140_000; // > 2 * 65536: avail.idx, used.idx, used_event and avail_event all wrap
    await waitUntil(
      () => {
        while (pa!.sent < total && pa!.send(frame(60, pa!.sent))) {}
        pa!.flush();
        return pb!.received === total;
      },
      'wraparound traffic',
      30_000,
    );
    expect(outOfOrder).toBe(0);
    await waitUntil(() => pa!.txDone === total, 'completions');
    expect(pa!.txq.lastUsedIdx).toBe(total & 0xffff);
    expect(pb!.rxq.lastUsedIdx).toBe(total & 0xffff);
    expect(a.stats().pairs[0]!.txFrames).toBe(total);
  });
});
