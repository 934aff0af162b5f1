// The log-linear histogram: every percentile within 1% of the exact one, exact max, fixed memory.
import { describe, expect, it } from 'vitest';
import { Histogram, highestOf, indexOf } from '../../lib/bench/histogram';
import { percentile } from '../../lib/bench/stats';

describe('Histogram', () => {
  it('indexOf and highestOf agree: every value lies in its bucket, buckets are at most 1/128 wide', () => {
    for (const v of [0, 1, 127, 255, 256, 257, 511, 512, 1000, 65_535, 1e6, 2 ** 32 - 1, 2 ** 32, 3e10]) {
      const i = indexOf(v);
      expect(highestOf(i)).toBeGreaterThanOrEqual(v);
      const lowest = i === 0 ? 0 : highestOf(i - 1) + 1;
      expect(lowest).toBeLessThanOrEqual(v);
      expect(highestOf(i) - lowest).toBeLessThanOrEqual(Math.max(0, v / 128));
    }
  });

  it('percentiles are within 1% of the exact ones on a heavy-tailed sample; max is exact', () => {
    const h = new Histogram();
    const values: number[] = [];
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 20_000; i++) {
      const v = Math.round(1000 + 200_000 * rnd() ** 8); // ns, long tail
      values.push(v);
      h.record(v);
    }
    for (const p of [50, 90, 99, 99.9]) {
      const exact = percentile(values, p);
      expect(Math.abs(h.valueAt(p) - exact) / exact).toBeLessThan(0.01);
    }
    expect(h.percentiles().max).toBe(Math.max(...values));
    expect(h.total).toBe(20_000);
  });

  it('keeps its memory fixed and counts bad values apart', () => {
    const h = new Histogram();
    const size = h.counts.length;
    h.record(-1);
    h.record(Number.NaN);
    h.record(2 ** 50);
    expect(h.rejected).toBe(2);
    expect(h.counts.length).toBe(size);
    expect(Number.isNaN(new Histogram().valueAt(50))).toBe(true);
  });
});
