// The pps benchmark called as a library (runPpsBench) on the wire: a typed report whose medians
// come from its repetitions, every frame of every repetition received; an abort stops it with
// Interrupted after cleaning up.
import { describe, expect, it } from 'vitest';
import { crefUringMode, Interrupted } from '../../lib/bench/pps/engine';
import { runPpsBench } from '../../lib/scenarios/pps-bench';

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

describe('runPpsBench (lib/scenarios/pps-bench)', () => {
  it('wire: condis alone, every frame of every repetition received, medians of the repetitions', async () => {
    const frames = 50_000;
    const reps = 3;
    const progress: string[] = [];
    const r = await runPpsBench({
      backend: 'wire',
      size: 128,
      frames,
      reps,
      warmup: 1000,
      onRep: (done, total, label) => progress.push(`${done}/${total} ${label}`),
    });
    expect(r).toMatchObject({ bench: 'pps', backend: 'wire', frameSize: 128, frames, reps, loop: null });
    expect(r.ratios).toEqual({});
    expect(r.machine.loadAvg).toHaveLength(3);
    expect(progress).toEqual(['1/3 wire 128 B rep 1/3', '2/3 wire 128 B rep 2/3', '3/3 wire 128 B rep 3/3']);
    expect(r.results.map((x) => x.path)).toEqual(['condis']);
    const c = r.results[0]!;
    expect(c.reps).toHaveLength(reps);
    for (const rep of c.reps) {
      expect(rep).toMatchObject({ frames, received: frames, lost: 0 });
      expect(rep.txPps).toBeGreaterThan(0);
      expect(rep.rxPps).toBeGreaterThan(0);
      expect(rep.seconds).toBeGreaterThan(0);
    }
    // The path's figures are the medians of its repetitions.
    expect(c.rxPps).toBe(median(c.reps.map((x) => x.rxPps)));
    expect(c.txPps).toBe(median(c.reps.map((x) => x.txPps)));
    expect(c.lost).toBe(0);
  }, 60_000);

  it('an abort between repetitions ends the run with Interrupted', async () => {
    const ac = new AbortController();
    const log: string[] = [];
    let reps = 0;
    const run = runPpsBench({
      backend: 'wire',
      size: 64,
      frames: 20_000,
      reps: 50,
      warmup: 0,
      signal: ac.signal,
      log: (s) => log.push(s),
      onRep: () => {
        if (++reps === 1) ac.abort('SIGINT');
      },
    });
    await expect(run).rejects.toBeInstanceOf(Interrupted);
    expect(reps).toBe(1);
    expect(log).toContain('SIGINT: stopping and cleaning up');
  }, 60_000);
});

describe('the C reference io_uring reader', () => {
  it('is the multishot one where the kernel has IORING_OP_READ_MULTISHOT (6.7+), else armed reads', () => {
    expect(crefUringMode('6.18.44-fc-v1272')).toBe('uring-ms');
    expect(crefUringMode('6.7.0')).toBe('uring-ms');
    expect(crefUringMode('7.0.1')).toBe('uring-ms');
    expect(crefUringMode('6.6.63-generic')).toBe('uring');
    expect(crefUringMode('5.15.0')).toBe('uring');
  });
});
