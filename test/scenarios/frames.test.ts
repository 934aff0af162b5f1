// `condis run` called as a library (runFrames) on the wire: the report's counts add up — every
// frame sent arrived, once, on its pair, and the devices' own counters say the same — and an
// abort still returns a report. With CAP_NET_ADMIN (mandatory under CI=true), the same over two
// TAPs looped by the kernel, whose own counters agree too.
import { describe, expect, it } from 'vitest';
import { FRAMES_VID, runFrames } from '../../lib/scenarios/frames';
import { tapTestsEnabled } from '../helpers/privilege';

const tap = tapTestsEnabled('runFrames --backend tap');

describe('runFrames (lib/scenarios/frames)', () => {
  it('moves every frame both ways on both pairs, and the counters agree', async () => {
    const frames = 2000;
    const size = 100;
    const captured = new Map<number, number>();
    let badLength = 0;
    const started: string[] = [];
    const r = await runFrames({
      backend: 'wire',
      frames,
      size,
      capture: {
        capture: (_b, _o, len, vid) => {
          if (len !== size) badLength++;
          captured.set(vid ?? 0, (captured.get(vid ?? 0) ?? 0) + 1);
        },
      },
      onStart: (info) => started.push(`${info.backend}: ${info.note}`),
      onRingError: (name, e) => {
        throw new Error(`${name}: ${e.code}`);
      },
    });
    expect(started).toEqual(['wire: wire: in-process (asked for)']);
    expect(r).toMatchObject({ backend: 'wire', frameSize: size, interrupted: false });
    expect(r.seconds).toBeGreaterThan(0);
    const goals = [frames, frames / 10];
    expect(r.pairs.map((p) => [p.pair, p.vid])).toEqual([
      [0, 0],
      [1, FRAMES_VID],
    ]);
    for (const p of r.pairs) {
      for (const d of [p.aToB, p.bToA]) {
        expect(d).toEqual({ sent: goals[p.pair], received: goals[p.pair], lost: 0 });
      }
    }
    // Each frame captured once, where it was delivered, with its pair's VID.
    expect(badLength).toBe(0);
    expect(captured).toEqual(
      new Map([
        [0, 2 * goals[0]!],
        [FRAMES_VID, 2 * goals[1]!],
      ]),
    );
    // The devices counted the same frames on each pair, and nothing unbound, malformed or dropped.
    expect(r.devices.map((d) => d.name)).toEqual(['wire/a', 'wire/b']);
    for (const d of r.devices) {
      expect(d.kernel).toBeNull();
      expect(d.stats.pairs.slice(0, 2).map((p) => [p.txFrames, p.rxFrames])).toEqual([
        [goals[0], goals[0]],
        [goals[1], goals[1]],
      ]);
      expect(d.stats.pairs[1]!.vid).toBe(FRAMES_VID);
      expect(d.stats.rxUnboundVid + d.stats.rxMalformed + d.stats.ringErrors).toBe(0);
    }
  }, 60_000);

  it('an abort ends the run early; the report still comes, interrupted', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await runFrames({ backend: 'wire', frames: 100_000_000, size: 64, signal: ac.signal });
    expect(r.interrupted).toBe(true);
    expect(r.pairs[0]!.aToB.sent).toBeLessThan(100_000_000);
    // One pump turn: at most a window of frames queued per port; lost is what the counts say.
    for (const p of r.pairs) {
      for (const d of [p.aToB, p.bToA]) {
        expect(d.received).toBeLessThan(1000);
        expect(d.lost).toBe(d.sent - d.received);
      }
    }
  }, 30_000);

  it.runIf(tap)(
    'tap: two TAPs through the kernel, nothing lost, the kernel counted every frame',
    async () => {
      const frames = 2000;
      const r = await runFrames({ backend: 'tap', frames, size: 100 });
      expect(r.backend).toBe('tap');
      expect(r.note).toMatch(/tc mirred both ways/);
      const goals = [frames, frames / 10];
      for (const p of r.pairs) {
        for (const d of [p.aToB, p.bToA])
          expect(d).toEqual({ sent: goals[p.pair], received: goals[p.pair], lost: 0 });
      }
      for (const d of r.devices) {
        const k = d.kernel ?? {};
        // The kernel saw at least our frames each way (quiet(): no IPv6 of its own), dropped none.
        expect(k.tx_packets).toBeGreaterThanOrEqual(goals[0]! + goals[1]!);
        expect(k.rx_packets).toBeGreaterThanOrEqual(goals[0]! + goals[1]!);
        expect(k.tx_dropped).toBe(0);
        expect(k.rx_dropped).toBe(0);
      }
    },
    60_000,
  );
});
