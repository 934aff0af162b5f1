/**
 * JS heap checks for benchmarks: a forced full GC (without having to start node with --expose-gc),
 * heapUsed around a piece of work, and a count of the collections that ran during it (a loop
 * that allocates per packet shows up as many scavenges even when it retains nothing).
 */
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

export type GcFn = () => void;

let cachedGc: GcFn | null | undefined;

/**
 * A function that runs a full garbage collection: global.gc when node was started with
 * --expose-gc, else obtained by setting that flag at run time and taking `gc` from a fresh context
 * (what jest's leak detector does). null if neither works.
 */
export function getGc(): GcFn | null {
  if (cachedGc !== undefined) return cachedGc;
  const g = (globalThis as { gc?: unknown }).gc;
  if (typeof g === 'function') {
    cachedGc = g as GcFn;
    return cachedGc;
  }
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    cachedGc = typeof fn === 'function' ? (fn as GcFn) : null;
  } catch {
    cachedGc = null;
  }
  return cachedGc;
}

/** Full GC, twice (the second pass frees what the first one's finalizers released). */
export function fullGc(gc: GcFn): void {
  gc();
  gc();
}

export interface GcCounts {
  minor: number;
  major: number;
  incremental: number;
  weakcb: number;
  /** Total pause time of the collections counted, ms. */
  pauseMs: number;
}

/**
 * Counts the garbage collections V8 reports between start() and stop(). The counts arrive a turn
 * later, so stop() is async.
 */
export class GcCounter {
  private readonly counts: GcCounts = { minor: 0, major: 0, incremental: 0, weakcb: 0, pauseMs: 0 };
  private obs: PerformanceObserver | null = null;
  private from = 0;
  private to = Number.POSITIVE_INFINITY;

  start(): void {
    this.from = performance.now();
    this.obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.startTime < this.from || e.startTime > this.to) continue;
        const kind = (e as { detail?: { kind?: number } }).detail?.kind;
        if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) this.counts.minor++;
        else if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) this.counts.major++;
        else if (kind === perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL) this.counts.incremental++;
        else if (kind === perfConstants.NODE_PERFORMANCE_GC_WEAKCB) this.counts.weakcb++;
        this.counts.pauseMs += e.duration;
      }
    });
    this.obs.observe({ entryTypes: ['gc'] });
  }

  /** Marks the end of the measured span now; resolves with the counts once they are delivered. */
  async stop(): Promise<GcCounts> {
    this.to = performance.now();
    await new Promise((r) => setTimeout(r, 20));
    this.obs?.disconnect();
    this.obs = null;
    return { ...this.counts, pauseMs: Math.round(this.counts.pauseMs * 1000) / 1000 };
  }
}

export interface HeapSample {
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export function heapSample(): HeapSample {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}
