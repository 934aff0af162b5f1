/**
 * The pps benchmark as a library: frames per second through condis' rings at one frame size.
 * `runPpsBench()` checks that the backend can run here (and builds the C reference for a TAP run),
 * runs the engine of lib/bench/pps (repetitions, interleaved with the C reference on a TAP loop)
 * and returns a typed report: every path's medians and repetitions, and the ratios. `condis bench
 * pps` (lib/cli/bench-pps.ts) only parses, calls and renders; `npm run bench:pps`
 * (scripts/bench/pps/run.ts) drives the same engine over a matrix of sizes. Layer: a scenario over
 * the device layer (FramePort drivers, no NDIS), plus the TAP loop of scripts/bench/pps.
 *
 *   tap   a one-way kernel loop tapA -> tapB (tc mirred, scripts/bench/pps/tap-loop.sh) and, in the
 *         same run, condis, c-per-frame and c-io_uring (cref.c, built on demand with build.sh);
 *         needs root (CAP_NET_ADMIN).
 *   wire  condis alone on the in-process wire: no C reference, so no ratios.
 */
import { describeMachine, type MachineInfo } from '../bench/machine';
import {
  DEFAULT_CONFIG,
  Interrupted,
  type PathName,
  type PathResult,
  PpsEngine,
  type PpsRatios,
  ratiosOf,
  type TapCpus,
  tapLoopNames,
} from '../bench/pps/engine';
import { type CrefBuildFailure, ensureCref, ppsFiles } from '../bench/pps/files';

const TAP_PATHS: readonly PathName[] = ['condis', 'c-per-frame', 'c-io_uring'];

export interface PpsBenchOptions {
  backend: 'tap' | 'wire';
  /** Frame size in bytes (60..1514). */
  size: number;
  /** Frames per measured run. */
  frames: number;
  /** Repetitions per path; the medians are reported. */
  reps: number;
  /** Frames moved and discarded before each run. */
  warmup: number;
  /** TAP runs: pin JS, the sending and the receiving device thread (and cref's writer/reader). */
  cpus?: TapCpus | null;
  /** Stops the run: the engine cleans up (cref, devices, the TAP loop) and it rejects with Interrupted. */
  signal?: AbortSignal;
  /** Progress and warnings, one line each (building cref, stopping). */
  log?: (line: string) => void;
  /** Called after each repetition of each path. */
  onRep?: (done: number, total: number, label: string) => void;
}

export interface PpsBenchReport {
  bench: 'pps';
  backend: 'tap' | 'wire';
  frameSize: number;
  frames: number;
  reps: number;
  /** Each path's medians and its repetitions: condis alone on the wire; condis, then cref's two on a TAP. */
  results: PathResult[];
  /** condis' rx pps over each C path's (medians); {} on the wire. */
  ratios: PpsRatios | Record<string, never>;
  /** The machine at the start (CPU, load average). */
  machine: MachineInfo;
  /** The TAP loop's interfaces (removed at the end), or null on the wire. */
  loop: [string, string] | null;
  /** The CPUs the TAP runs were pinned to, or null (unpinned). */
  cpus: TapCpus | null;
  /** The load average at the end (the start's is in machine). */
  loadAvgAfter: [number, number, number];
}

/** Why a benchmark could not start: the TAP loop is not possible here, or cref did not build. */
export class PpsUnavailable extends Error {
  constructor(
    readonly what: 'tap' | 'cref',
    readonly reason: string,
    readonly build: CrefBuildFailure | null = null,
  ) {
    super(
      what === 'tap' ? `the TAP loop cannot run here: ${reason}` : `cannot build the C reference: ${reason}`,
    );
  }
}

/** Runs the pps benchmark (see the header) and returns its report. */
export async function runPpsBench(o: PpsBenchOptions): Promise<PpsBenchReport> {
  const log = o.log ?? (() => {});
  const engine = new PpsEngine(
    { ...DEFAULT_CONFIG, frames: o.frames, warmup: o.warmup, tapCpus: o.cpus ?? null },
    log,
  );
  if (o.backend === 'tap') {
    const why = engine.tapUnavailable();
    if (why) throw new PpsUnavailable('tap', why);
    const failed = ensureCref(ppsFiles(), log);
    if (failed) throw new PpsUnavailable('cref', failed.message, failed);
  }
  const machine = describeMachine();
  const names = tapLoopNames();
  const { size, reps } = o;
  const total = reps * (o.backend === 'tap' ? TAP_PATHS.length : 1);
  let done = 0;
  // An abort stops the engine (and waits for cref to be gone); the run then ends with Interrupted.
  let stopped: Promise<void> = Promise.resolve();
  const onAbort = () => {
    const r = o.signal?.reason;
    stopped = engine.interrupt(typeof r === 'string' ? r : 'aborted');
  };
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  // Whatever happens, nothing the engine opened outlives the process.
  const onExit = () => engine.cleanupSync();
  process.on('exit', onExit);
  try {
    let results: PathResult[];
    if (o.backend === 'tap') {
      engine.loopUp(names);
      results = await engine.runTapSize(names, size, TAP_PATHS, reps, (p, r) =>
        o.onRep?.(++done, total, `tap ${size} B rep ${r + 1}/${reps} ${p}`),
      );
      engine.loopDown();
    } else {
      results = [
        await engine.runWire(o.frames, size, reps, (r) =>
          o.onRep?.(++done, total, `wire ${size} B rep ${r + 1}/${reps}`),
        ),
      ];
    }
    if (engine.interrupted) throw new Interrupted();
    return {
      bench: 'pps',
      backend: o.backend,
      frameSize: size,
      frames: o.frames,
      reps,
      results,
      ratios: o.backend === 'tap' ? ratiosOf(results) : {},
      machine,
      loop: o.backend === 'tap' ? names : null,
      cpus: o.backend === 'tap' ? (o.cpus ?? null) : null,
      loadAvgAfter: describeMachine().loadAvg,
    };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await stopped;
    engine.cleanupSync();
    process.off('exit', onExit);
  }
}
