/**
 * A seeded pseudo-random source for scenarios that must name a seed to replay (condis soak):
 * mulberry32, 32 bits of state, fast, and good enough to pick operations and delays (it is not
 * for cryptography). The same seed gives the same sequence of decisions; the timing around them
 * (device threads, the kernel) is not replayed.
 */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    // mulberry32 (Tommy Ettinger): one add, three multiply-xorshift rounds.
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One of `items`, each weighted by its `w` (weights > 0; at least one item). */
  weighted<T>(items: ReadonlyArray<{ w: number; v: T }>): T {
    let total = 0;
    for (const it of items) total += it.w;
    let r = this.next() * total;
    for (const it of items) {
      r -= it.w;
      if (r < 0) return it.v;
    }
    return items[items.length - 1]!.v;
  }
}

/** A fresh seed (31 bits, printable) for a run that was not given one. */
export function freshSeed(): number {
  return Math.floor(Math.random() * 0x7fffffff);
}
