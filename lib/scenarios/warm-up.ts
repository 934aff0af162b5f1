/**
 * warmUp(): runs the package's deactivation path a few hundred times on private wire pairs, so
 * that a program's FIRST deactivation is as fast as a warm one.
 *
 * Why: V8 compiles a function on its first call and runs it in its interpreter until it has run
 * enough to be compiled further, and the deactivation path crosses a few hundred functions (NDIS's
 * state machine and verifier, the miniport's drain, the driver side of the rings). A process's
 * first deactivation with one send in flight took ~2.2 ms on the 2-core VM (the drain bench's
 * `--cold`), every step of it slow (the NDIS trace: ~0.3 ms in MiniportCoDeactivateVc alone,
 * nothing waiting on the hardware), against ~30 µs warm. The code is shared by every instance, so
 * warming a private one warms the user's: after warmUp() the first deactivation of a NEW runtime on
 * NEW devices took 134-229 µs (300 deactivations, ~0.1 s then; now two runtimes and a settle, ~0.35 s in all). The user's own handlers are not warmed.
 *
 * Opt-in: a program that measures its drains, or that wants its first deactivation fast, calls it
 * once at start. The wire needs no privilege, so it works anywhere the package loads.
 *
 * Sits with the scenarios (lib/scenarios): it runs the drain benchmark's rig (drain-bench.ts)
 * without measuring anything.
 */
import { CondisError } from '../errors';
import { throwIfAborted } from '../vc/abort';

/** What warmUp() runs: how many deactivations, and a signal to stop it. */
export interface WarmUpOptions {
  /** Deactivations to run, cycling through 0, 1 and 16 in flight (default 300, 1..100000). */
  deactivations?: number;
  /** Stops after the deactivation under way; warmUp then rejects with AbortError (ABORT_ERR). */
  signal?: AbortSignal;
}

/** What warmUp() did: the deactivations it ran and how long that took. */
export interface WarmUpReport {
  /** Deactivations run. */
  deactivations: number;
  /** Wall time, milliseconds (the deactivations and the settle). */
  ms: number;
  /**
   * Of `ms`, the time spent waiting for V8's background threads to finish what the deactivations
   * handed them (optimizing compiles): see settleBackgroundThreads.
   */
  settleMs: number;
}

const SETTLE_STEP_MS = 5; // one look at the background threads' CPU per step
const SETTLE_IDLE_NS = 100_000; // a step in which they ran under 0.1 ms counts as quiet
const SETTLE_MAX_MS = 500; // never wait longer than this (a busy machine's threads never go quiet)

/**
 * Waits until this process's threads other than the JS thread and the devices' (V8's compiler and
 * GC workers, libuv's pool) have been quiet for two steps in a row, or SETTLE_MAX_MS. Why: the
 * deactivations queue optimizing compiles on V8's worker threads, which go on for milliseconds
 * after the last one; on two cores a program's first real deactivation then waited behind them
 * (\`bench drain --cold\`, cold after warmUp() on the TAP: run-queue wait 0.7-3.4 ms while V8's
 * threads ran 2.3-4.0 ms). Waiting on timers also lets the JS thread install the finished code.
 * Returns the milliseconds waited. Linux only (/proc); elsewhere it returns at once.
 */
async function settleBackgroundThreads(signal: AbortSignal | undefined): Promise<number> {
  const { delaySnapshot } = await import('../bench/run-delay');
  const t0 = performance.now();
  let last = delaySnapshot().otherRunNs;
  let quiet = 0;
  while (quiet < 2 && performance.now() - t0 < SETTLE_MAX_MS) {
    await new Promise((r) => setTimeout(r, SETTLE_STEP_MS));
    throwIfAborted(signal, 'warmUp');
    const now = delaySnapshot().otherRunNs;
    quiet = now - last < SETTLE_IDLE_NS ? quiet + 1 : 0;
    last = now;
  }
  return performance.now() - t0;
}

/**
 * Warms the package's deactivation path up (see the file comment): resolves once `deactivations`
 * have run on a private wire pair with its own Ndis, which are closed again. Throws
 * ERR_CONDIS_INVALID_ARG for a count outside 1..100000; rejects with AbortError when `signal`
 * aborts (the pair is closed first).
 */
export async function warmUp(options: WarmUpOptions = {}): Promise<WarmUpReport> {
  const n = options.deactivations ?? 300;
  if (!Number.isInteger(n) || n < 1 || n > 100_000) {
    throw new CondisError(
      'ERR_CONDIS_INVALID_ARG',
      `warmUp: deactivations must be a whole number from 1 to 100000, got ${n}`,
    );
  }
  throwIfAborted(options.signal, 'warmUp');
  const t0 = performance.now();
  // Loaded here, not at the top: the package root exports warmUp, and a program that never calls
  // it should not load the benchmark's modules (the rig, its histogram, the kernel comparison).
  const { runDrainBench } = await import('./drain-bench');
  // Two private runtimes in turn (a tenth of the deactivations on the first): V8 optimizes a call
  // site for the one closure it has seen there, and the rig's per-instance callbacks (the miniport's
  // onSendsCompleted, NDIS's handlers) are new closures on the user's instance, so their first
  // deactivation threw the optimized send completion away ('wrong call target' in completeChains,
  // the interrupt's handling 0.2-0.4 ms instead of ~5 us). Seen with two, the site is optimized
  // for the function rather than one closure of it.
  const first = Math.max(1, Math.floor(n / 10));
  for (const count of n > 1 ? [first, n - first] : [n]) {
    // jitWarmup cycles through depths 0, 1 and 16 (capped at the largest depth: 16 here), then
    // one "measured" iteration whose figures nobody reads.
    await runDrainBench({
      backend: 'wire',
      depths: [16],
      iterations: 1,
      warmup: 0,
      jitWarmup: count - 1,
      kernel: false,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    throwIfAborted(options.signal, 'warmUp');
  }
  const settleMs = await settleBackgroundThreads(options.signal);
  return {
    deactivations: n,
    ms: Math.round((performance.now() - t0) * 10) / 10,
    settleMs: Math.round(settleMs * 10) / 10,
  };
}
