/**
 * What a long run must not grow: the process's resident memory, JS heap (after a full GC, so only
 * what is retained counts), external memory (ArrayBuffers, the device regions), open file
 * descriptors and threads (each device has one I/O thread).
 */
import * as fs from 'node:fs';
import { fullGc, getGc } from '../bench/heap';

export interface ProcessSample {
  /** performance.now() of the sample, ms. */
  atMs: number;
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  fds: number;
  threads: number;
}

function count(dir: string): number {
  try {
    return fs.readdirSync(dir).length;
  } catch {
    return -1;
  }
}

/** A sample; with `gc` (the default) a full garbage collection runs first. */
export function sampleProcess(gc = true): ProcessSample {
  const g = gc ? getGc() : null;
  if (g) fullGc(g);
  const m = process.memoryUsage();
  return {
    atMs: performance.now(),
    rssBytes: m.rss,
    heapUsedBytes: m.heapUsed,
    externalBytes: m.external,
    // The listing includes readdir's own descriptor: one more, the same in every sample.
    fds: count('/proc/self/fd'),
    threads: count('/proc/self/task'),
  };
}
