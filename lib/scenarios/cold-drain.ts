/**
 * Cold deactivations (issue 12 point 4): the drain benchmark's deactivation, measured as a
 * process's FIRST — a fresh process per sample (cold-drain-child.ts runs runDrainBench with no
 * warm-up and one iteration), so nothing of the path has run before: V8 has compiled none of its
 * functions (they are compiled lazily, on first call), no inline cache is warm, no native call
 * has been made. `condis bench drain --cold N` reports these beside the warm rows.
 *
 * Sits with the scenarios (lib/scenarios): library code returning a typed report; lib/cli renders.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Histogram, type Percentiles, roundPercentiles } from '../bench/histogram';
import { median } from '../bench/stats';

export interface ColdDrainOptions {
  backend: 'tap' | 'wire';
  depths: readonly number[];
  /** Fresh processes per depth (>= 1). */
  samples: number;
  /** Each process first runs warmUp() with this many deactivations (default 0: truly cold). */
  warmUp?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface ColdDrainRow {
  depth: number;
  samples: number;
  /** NdisCmDeactivateVc to the call manager's completion, µs, each sample a fresh process. */
  drainUs: Percentiles;
  /** Above the moment the last send / held receive came back (as the warm rows). */
  overheadUs: Percentiles;
  /**
   * Medians over the samples: how long our threads sat runnable but not running during the
   * deactivation, and how much CPU the process's other threads (V8's compiler and GC workers)
   * took meanwhile (lib/bench/run-delay).
   */
  runQueueUs: number;
  otherThreadsUs: number;
}

/** What one child prints (its only stdout line). */
export interface ColdSample {
  depth: number;
  drainUs: number;
  overheadUs: number;
  runQueueUs: number;
  otherThreadsUs: number;
}

const CHILD = path.join(__dirname, `cold-drain-child${path.extname(__filename)}`);

/**
 * Run from the TypeScript sources (the tests), the child needs tsx to load: `--import tsx`, not
 * `--require tsx/cjs`, which leaves warmUp()'s dynamic import() to Node's own ESM loader (it cannot
 * find a .ts module).
 */
const LOADER = path.extname(__filename) === '.ts' ? ['--import', 'tsx'] : [];

/** One cold sample: a fresh node process. */
export function coldSample(backend: 'tap' | 'wire', depth: number, warm = 0): Promise<ColdSample> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...LOADER, CHILD, backend, String(depth), String(warm)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as ColdSample);
      else
        reject(
          new Error(
            `cold drain sample (depth ${depth}) failed: exit ${code}: ${err.trim().split('\n').pop() ?? ''}`,
          ),
        );
    });
  });
}

/** `samples` fresh processes per depth, one after another (never two at once: they would compete). */
export async function runColdDrain(opts: ColdDrainOptions): Promise<ColdDrainRow[]> {
  const rows: ColdDrainRow[] = [];
  const total = opts.depths.length * opts.samples;
  let done = 0;
  for (const depth of opts.depths) {
    const drain = new Histogram();
    const overhead = new Histogram();
    const waits: number[] = [];
    const others: number[] = [];
    let n = 0;
    for (; n < opts.samples && !opts.signal?.aborted; n++) {
      opts.onProgress?.(++done, total, `cold${opts.warmUp ? ' after warmUp()' : ''}, depth ${depth}`);
      const s = await coldSample(opts.backend, depth, opts.warmUp ?? 0);
      drain.record(s.drainUs * 1e3);
      overhead.record(s.overheadUs * 1e3);
      waits.push(s.runQueueUs);
      others.push(s.otherThreadsUs);
    }
    if (n === 0) break;
    rows.push({
      depth,
      samples: n,
      drainUs: roundPercentiles(drain.percentiles(1e-3)),
      overheadUs: roundPercentiles(overhead.percentiles(1e-3)),
      runQueueUs: median(waits),
      otherThreadsUs: median(others),
    });
  }
  return rows;
}
