/**
 * A log-linear latency histogram in the manner of HdrHistogram: fixed memory, no allocation per
 * record, relative error under 1% (1/128) on every value, exact min and max.
 *
 * Values are non-negative integers (nanoseconds here). Values below 256 get a bucket each; above,
 * every power-of-two range [2^k, 2^(k+1)) is split into 128 equal sub-buckets, so the width of a
 * bucket is at most 1/128 of the values it holds. Index of v (with e = max(0, msb(v) - 7)):
 * e * 128 + (v >> e). A percentile reports the highest value of its bucket (as HdrHistogram's
 * valueAtPercentile does), clamped to the exact max, so it never under-reports.
 *
 * Why not an array of samples: a long run would grow it without bound and sorting it allocates;
 * the benchmark's hot loop must stay allocation-free.
 */
import { CondisError } from '../errors';

const SUB_BITS = 7;
const SUB_HALF = 1 << SUB_BITS; // 128 sub-buckets per power of two
/** Highest trackable value: 2^40 ns is about 18 minutes; larger values are clamped to it. */
const MAX_EXP = 40;
const TWO32 = 2 ** 32;

/** 2^e for the shifts of values that do not fit 32 bits (no allocation: a fixed table). */
const POW2 = new Float64Array(MAX_EXP + 1).map((_, i) => 2 ** i);

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Each percentile rounded to one decimal, for a report. */
export function roundPercentiles(p: Percentiles): Percentiles {
  const r = (x: number) => Math.round(x * 10) / 10;
  return { p50: r(p.p50), p90: r(p.p90), p99: r(p.p99), p999: r(p.p999), max: r(p.max) };
}

export class Histogram {
  readonly counts: Float64Array;
  total = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  private sum = 0;
  /** Values that were negative or not finite (a clock that went backwards): counted, not stored. */
  rejected = 0;

  constructor() {
    // Buckets for exponents 0..MAX_EXP-SUB_BITS, 128 each, plus the first 128 direct values.
    this.counts = new Float64Array((MAX_EXP - SUB_BITS + 2) * SUB_HALF);
  }

  /** Records one value (rounded to an integer). Allocation-free. */
  record(value: number): void {
    if (!(value >= 0) || !Number.isFinite(value)) {
      this.rejected++;
      return;
    }
    let v = Math.round(value);
    if (v >= POW2[MAX_EXP]!) v = POW2[MAX_EXP]! - 1;
    this.counts[indexOf(v)]!++;
    this.total++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sum = 0;
    this.rejected = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
  }

  get mean(): number {
    return this.total === 0 ? Number.NaN : this.sum / this.total;
  }

  /** The value at percentile p (0..100): the top of the bucket holding that rank. NaN if empty. */
  valueAt(p: number): number {
    if (!(p >= 0 && p <= 100))
      throw new CondisError('ERR_CONDIS_INVALID_ARG', `percentile must be in [0, 100], got ${p}`);
    if (this.total === 0) return Number.NaN;
    if (p === 100) return this.max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    const c = this.counts;
    for (let i = 0; i < c.length; i++) {
      seen += c[i]!;
      if (seen >= rank) return Math.min(highestOf(i), this.max);
    }
    return this.max;
  }

  /** p50, p90, p99, p99.9 and the exact max, scaled by `scale` (e.g. 1e-3 for ns -> us). */
  percentiles(scale = 1): Percentiles {
    return {
      p50: this.valueAt(50) * scale,
      p90: this.valueAt(90) * scale,
      p99: this.valueAt(99) * scale,
      p999: this.valueAt(99.9) * scale,
      max: (this.total === 0 ? Number.NaN : this.max) * scale,
    };
  }
}

/** Most significant bit of a non-negative integer below 2^MAX_EXP. */
function msb(v: number): number {
  if (v < TWO32) return 31 - Math.clz32(v);
  return 63 - Math.clz32(Math.floor(v / TWO32));
}

/** Bucket index of v (an integer in [0, 2^MAX_EXP)). */
export function indexOf(v: number): number {
  if (v < 2 * SUB_HALF) return v;
  const e = msb(v) - SUB_BITS;
  const sub = v < TWO32 ? v >>> e : Math.floor(v / POW2[e]!);
  return e * SUB_HALF + sub;
}

/** Highest value that falls into bucket i (the inverse of indexOf, upper edge). */
export function highestOf(i: number): number {
  if (i < 2 * SUB_HALF) return i;
  const e = Math.floor(i / SUB_HALF) - 1;
  const sub = i - e * SUB_HALF;
  return (sub + 1) * POW2[e]! - 1;
}
