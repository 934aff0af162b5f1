/**
 * Small statistics for benchmark repetitions: percentiles, median, mean, spread, ratios.
 * Pure functions over plain number arrays; nothing here is meant for a per-packet path.
 */

/**
 * The p-th percentile (0..100) of `values`, linearly interpolated between the two nearest ranks
 * (the "type 7" estimator of R and NumPy's default). NaN for an empty array. Does not modify
 * `values`.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Sample standard deviation (n - 1); 0 for a single value, NaN for none. */
export function stddev(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  if (values.length === 1) return 0;
  const m = mean(values);
  let s = 0;
  for (const v of values) s += (v - m) ** 2;
  return Math.sqrt(s / (values.length - 1));
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  max: number;
  mean: number;
  stddev: number;
  /** stddev / mean: the relative spread (NaN when the mean is 0). */
  cv: number;
}

export function summarize(values: readonly number[]): Summary {
  const m = mean(values);
  const sd = stddev(values);
  return {
    n: values.length,
    min: values.length ? Math.min(...values) : Number.NaN,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    max: values.length ? Math.max(...values) : Number.NaN,
    mean: m,
    stddev: sd,
    cv: m === 0 ? Number.NaN : sd / m,
  };
}

/** a / b, or null when either is missing or b is not a positive finite number. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return a / b;
}

/** Rounds to `digits` decimals (for JSON output), passing null and non-finite values through. */
export function round(v: number | null, digits = 1): number | null {
  if (v === null || !Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
