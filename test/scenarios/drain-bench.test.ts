// The drain benchmark called as a library (runDrainBench) on the wire: the report's shape and its
// invariants — every send in flight at the deactivation was delivered to the far end before it
// completed, every held receive was moved, the percentiles are ordered — and the AbortSignal.
// With CAP_NET_ADMIN (mandatory under CI=true), a short run over two TAPs looped by the kernel.
import { describe, expect, it } from 'vitest';
import { type DrainCapture, runDrainBench, WARMUP_DEPTHS } from '../../lib/scenarios/drain-bench';
import { tapTestsEnabled } from '../helpers/privilege';

const tap = tapTestsEnabled('runDrainBench --backend tap');

/** Counts the frames the benchmark reports moving on the VC, by direction (source MAC). */
function counter() {
  const c = { ours: 0, far: 0, other: 0, flushes: 0 };
  const capture: DrainCapture = {
    capture: (bytes, off, len, vid) => {
      // The client's frames have source 02:00:00:00:00:01, the far end's ..:02.
      const src = bytes[off + 11];
      if (vid !== 42 || len !== 64) c.other++;
      else if (src === 1) c.ours++;
      else if (src === 2) c.far++;
      else c.other++;
    },
    flushIfAbove: () => {
      c.flushes++;
    },
  };
  return { c, capture };
}

/** Only the measured iterations: no warm-up of either kind, no kernel comparison. */
const NOTHING_ELSE = { warmup: 0, jitWarmup: 0, kernel: false } as const;

describe('runDrainBench (lib/scenarios/drain-bench)', () => {
  it('measures every depth on the wire; every in-flight frame is delivered', async () => {
    const { c, capture } = counter();
    const depths = [16, 0, 3, 3]; // unsorted, with a duplicate: measured once each, ascending
    const iterations = 4;
    const warmup = 2;
    const jitWarmup = 7;
    let steps = 0;
    let lastTotal = 0;
    const r = await runDrainBench({
      backend: 'wire',
      depths,
      iterations,
      warmup,
      jitWarmup,
      kernel: false,
      capture,
      onProgress: (done, total) => {
        steps++;
        expect(done).toBe(steps);
        lastTotal = total;
      },
    });
    expect(r).toMatchObject({ bench: 'drain', backend: 'wire', interrupted: false, kernelCompared: false });
    expect(r.config).toMatchObject({ iterations, warmup, depths: [0, 3, 16], vid: 42, frameBytes: 64 });
    expect(r.config.queueSize).toBeGreaterThanOrEqual(16);
    expect(r.rows.map((x) => x.depth)).toEqual([0, 3, 16]);
    for (const row of r.rows) expect(row.tail).toBeNull(); // not asked for
    // Every iteration was reported, and the total announced was the number of iterations run.
    const all = 3 * (iterations + warmup) + jitWarmup;
    expect(steps).toBe(all);
    expect(lastTotal).toBe(all);
    for (const row of r.rows) {
      expect(row.iterations).toBe(iterations);
      expect(row.inFlight).toEqual({ mean: row.depth, min: row.depth, max: row.depth });
      for (const p of [row.drainUs, row.overheadUs]) {
        expect(p.p50).toBeLessThanOrEqual(p.p90);
        expect(p.p90).toBeLessThanOrEqual(p.p99);
        expect(p.p99).toBeLessThanOrEqual(p.p999);
        expect(p.p999).toBeLessThanOrEqual(p.max);
      }
      expect(row.drainUs.p50).toBeGreaterThan(0);
      expect(row.overheadUs.max).toBeLessThanOrEqual(row.drainUs.max);
      expect(row.kernelDownUs).toBeNull();
      expect(row.kernel).toBeNull();
    }
    // Frames moved: the JIT warm-up cycles through WARMUP_DEPTHS (capped at the deepest depth),
    // then (warmup + iterations) at each depth. Each held receive was sent by the far end, and each
    // send in flight reached the far end (a deactivation completing with one missing would fail).
    let moved = (iterations + warmup) * (0 + 3 + 16);
    for (let i = 0; i < jitWarmup; i++) moved += Math.min(WARMUP_DEPTHS[i % WARMUP_DEPTHS.length]!, 16);
    expect(c).toMatchObject({ ours: moved, far: moved, other: 0 });
    expect(c.flushes).toBe(all);
    expect(r.targets.map((t) => t.target)).toEqual([
      'overhead p50 <= 20 us at every depth',
      'overhead p99 <= 100 us at every depth',
      'drain at depth 0 p50 <= 5 us',
    ]);
    expect(r.kernelNote).toMatch(/skipped/);
  }, 60_000);

  it('an abort stops after the iteration under way: the depths finished, interrupted', async () => {
    const ac = new AbortController();
    const r = await runDrainBench({
      backend: 'wire',
      depths: [1, 2],
      iterations: 3,
      ...NOTHING_ELSE,
      signal: ac.signal,
      onProgress: (done) => {
        if (done === 4) ac.abort(); // the first iteration of depth 2
      },
    });
    expect(r.interrupted).toBe(true);
    expect(r.rows.map((x) => x.depth)).toEqual([1]);
  }, 30_000);

  it.runIf(tap)(
    'tap: every depth measured over the kernel loop, at most depth sends in flight',
    async () => {
      const { c, capture } = counter();
      const r = await runDrainBench({
        backend: 'tap',
        depths: [0, 4],
        iterations: 3,
        ...NOTHING_ELSE,
        capture,
      });
      expect(r).toMatchObject({ backend: 'tap', interrupted: false });
      expect(r.note).toMatch(/^tap: cdrainA\d+ <-> cdrainB\d+/);
      expect(r.rows.map((x) => x.depth)).toEqual([0, 4]);
      for (const row of r.rows) {
        // A TAP write never blocks: how many were still in flight at t0 is measured, never above d.
        expect(row.inFlight.min).toBeGreaterThanOrEqual(0);
        expect(row.inFlight.max).toBeLessThanOrEqual(row.depth);
        expect(row.drainUs.p50).toBeGreaterThan(0);
      }
      // The far end sent at least the receives the client held (more only if the kernel lost some).
      expect(c.far).toBeGreaterThanOrEqual(3 * 4);
      expect(c.other).toBe(0);
    },
    60_000,
  );

  it('rejects options it cannot run, before opening anything', async () => {
    const base = { backend: 'wire' as const, iterations: 1, warmup: 0, kernel: false };
    await expect(runDrainBench({ ...base, depths: [] })).rejects.toMatchObject({
      code: 'ERR_CONDIS_INVALID_ARG',
    });
    await expect(runDrainBench({ ...base, depths: [4097] })).rejects.toMatchObject({
      code: 'ERR_CONDIS_INVALID_ARG',
    });
    await expect(runDrainBench({ ...base, depths: [1], iterations: 0 })).rejects.toMatchObject({
      code: 'ERR_CONDIS_INVALID_ARG',
    });
  });

  it('attribute: the slowest 1% of each depth with its run-queue wait and who had the CPUs', async () => {
    const r = await runDrainBench({
      backend: 'wire',
      depths: [0, 4],
      iterations: 50,
      ...NOTHING_ELSE,
      attribute: true,
    });
    for (const row of r.rows) {
      const t = row.tail!;
      expect(t.iterations).toBe(1); // the slowest 1% of 50 and above: the slowest one
      expect(t.drainUs).toBeCloseTo(row.drainUs.max, -1);
      expect(t.medianUs).toBeLessThanOrEqual(t.drainUs);
      for (const v of [t.runQueueUs, t.otherThreadsUs, t.otherProcessesUs, t.stealUs]) {
        expect(v).toBeGreaterThanOrEqual(0);
      }
    }
  }, 60_000);
});
