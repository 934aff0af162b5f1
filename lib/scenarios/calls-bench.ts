/**
 * `condis bench calls` (issue 14 point 5): what a call costs between two nodes, across hosts
 * (bridge + VXLAN, two processes) and inside one process on the wire, in one run, side by side.
 * The paths are in calls-bench-paths.ts; this file is the measured loop and the arithmetic.
 *
 * Per path, phases interleaved (hosts then wire for each phase, so a change in the machine's load
 * touches both alike):
 *   1. warm-up: `warmup` call/close cycles, not recorded (V8 compiles the path);
 *   2. sequential: `calls` cycles, one call made then closed, back to back. setupMs is the node's
 *      own figure (NdisClMakeCall to its completion: SETUP, CALL PROCEEDING/CONNECT, the VC's
 *      activation on both ends); closeMs the node's drainMs (NdisClCloseCall to its completion:
 *      RELEASE, RELEASE COMPLETE, the VC's drain). callsPerSec: cycles over the loop's wall time,
 *      as its driver sees it (for hosts that includes two control-socket round trips a cycle);
 *   3. concurrent: `concurrency` callers on the same node, each cycling back to back, `calls`
 *      cycles in all: callsPerSecConcurrent;
 *   4. the most concurrent calls: calls opened and kept until one fails; the count, and the
 *      failure's NDIS status (RESOURCES: the device has no free queue pair; pair 0 carries the
 *      signalling VC, each call's VC binds one of the others, so queuePairs - 1). Then all closed.
 * Between phases, both nodes are waited for until they hold no call (the callee closes its end a
 * turn after the caller's close completes).
 */
import { Histogram } from '../bench/histogram';
import { describeMachine, type MachineInfo } from '../bench/machine';
import { ratio, round } from '../bench/stats';
import { hostsUnavailable } from '../cluster/up';
import { CondisError } from '../errors';
import { CALL_PATHS, type CallPair, type CallPath, openHostsPath, openWirePath } from './calls-bench-paths';

export { CALL_PATHS, type CallPath } from './calls-bench-paths';

export interface LatencyMs {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export interface CallsResult {
  path: CallPath;
  queuePairs: number;
  /** Measured cycles (sequential), after `warmup` unmeasured ones. */
  calls: number;
  setupMs: LatencyMs;
  closeMs: LatencyMs;
  /**
   * One make/close cycle as the benchmark sees it (sequential phase): setup and close plus what
   * lies between the driver and the node: for hosts, two control-socket round trips to another
   * process; for wire, nothing but this process's event loop. callsPerSec is its inverse.
   */
  cycleMs: LatencyMs;
  /** Sequential call/close cycles per second. */
  callsPerSec: number;
  /** With `concurrency` callers cycling at once. */
  callsPerSecConcurrent: number;
  concurrency: number;
  /** Calls held at once when the next one failed. */
  maxConcurrent: number;
  /** The NDIS status the failing call completed with (RESOURCES: no free queue pair). */
  limitCause: string;
  /** Its message, as the node gave it. */
  limitMessage: string;
  /** Both nodes' verifier violations at the end (0 when healthy). */
  verifierViolations: number;
  /**
   * SETUPs the caller repeated on the next VID over the whole run (the callee still held the
   * VID, its end of the previous call closing): each costs a round trip that setupMs, the time of
   * the make-call that succeeded, does not include; callsPerSec does.
   */
  vidRetries: number;
}

export interface CallsRatios {
  setupP50HostsOverWire: number | null;
  setupP99HostsOverWire: number | null;
  closeP50HostsOverWire: number | null;
  closeP99HostsOverWire: number | null;
  callsPerSecHostsOverWire: number | null;
  callsPerSecConcurrentHostsOverWire: number | null;
}

export interface CallsBenchReport {
  bench: 'calls';
  machine: MachineInfo;
  /** 1-minute load average at the start and the end. */
  load: { start: number; end: number };
  calls: number;
  warmup: number;
  concurrency: number;
  queuePairs: number;
  results: CallsResult[];
  skipped: { path: CallPath; reason: string }[];
  ratios: CallsRatios;
}

export interface CallsBenchOptions {
  paths?: readonly CallPath[];
  calls: number;
  warmup: number;
  concurrency: number;
  queuePairs: number;
  /** The hosts path's cluster id. */
  id: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  onProgress?: (done: number, total: number, label: string) => void;
}

export class CallsInterrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

const fail = (path: CallPath, m: string) => new CondisError('ERR_CONDIS_BENCH_FAILED', `${path}: ${m}`);

/** What one path accumulates over the phases. */
class PathRun {
  readonly setup = new Histogram();
  readonly close = new Histogram();
  readonly cycle = new Histogram();
  callsPerSec = 0;
  callsPerSecConcurrent = 0;
  maxConcurrent = 0;
  limitCause = '';
  limitMessage = '';
  constructor(readonly pair: CallPair) {}
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CallsInterrupted();
}

/** One call made and closed; the node's setup and close times (ms). */
async function cycle(p: CallPair): Promise<{ setupMs: number; closeMs: number }> {
  const r = await p.call();
  if (!r.ok) throw fail(p.path, `a call failed: ${r.code} ${r.status ?? ''} ${r.message}`);
  const closeMs = await p.close(r.call);
  return { setupMs: r.setupMs, closeMs };
}

/** Waits until neither node holds a call (B's end closes a turn after A's close completes). */
async function settle(p: CallPair): Promise<void> {
  const end = performance.now() + 15_000;
  for (;;) {
    const n = await p.open();
    if (n.a === 0 && n.b === 0) return;
    if (performance.now() > end)
      throw fail(p.path, `calls still open after the phase: ${n.a} at the caller, ${n.b} at the callee`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function warmUp(r: PathRun, n: number, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < n; i++) {
    checkAbort(signal);
    await cycle(r.pair);
  }
  await settle(r.pair);
}

async function sequential(r: PathRun, n: number, signal?: AbortSignal): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    checkAbort(signal);
    const t = performance.now();
    const c = await cycle(r.pair);
    r.cycle.record((performance.now() - t) * 1e6);
    // Histogram of integer nanoseconds (its resolution); the nodes give µs-rounded ms.
    r.setup.record(c.setupMs * 1e6);
    r.close.record(c.closeMs * 1e6);
  }
  r.callsPerSec = n / ((performance.now() - t0) / 1000);
  await settle(r.pair);
}

async function concurrent(r: PathRun, n: number, k: number, signal?: AbortSignal): Promise<void> {
  let left = n;
  const worker = async () => {
    while (left > 0) {
      checkAbort(signal);
      left--;
      await cycle(r.pair);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: k }, worker));
  r.callsPerSecConcurrent = n / ((performance.now() - t0) / 1000);
  await settle(r.pair);
}

/** Opens calls until one fails (at most queuePairs attempts: one more than can succeed). */
async function mostConcurrent(r: PathRun, queuePairs: number, signal?: AbortSignal): Promise<void> {
  const held: number[] = [];
  try {
    for (let i = 0; i <= queuePairs; i++) {
      checkAbort(signal);
      const c = await r.pair.call();
      if (c.ok) {
        held.push(c.call);
        continue;
      }
      r.maxConcurrent = held.length;
      r.limitCause = c.status ?? c.code;
      r.limitMessage = c.message;
      return;
    }
    throw fail(
      r.pair.path,
      `${held.length} calls open and none refused: more than the ${queuePairs} queue pairs allow`,
    );
  } finally {
    await Promise.allSettled(held.map((c) => r.pair.close(c)));
    await settle(r.pair);
  }
}

function latency(h: Histogram): LatencyMs {
  const p = h.percentiles(1e-6);
  const r = (v: number) => round(v, 3) as number;
  return { p50: r(p.p50), p99: r(p.p99), p999: r(p.p999), max: r(p.max) };
}

function ratiosOf(results: readonly CallsResult[]): CallsRatios {
  const h = results.find((x) => x.path === 'hosts');
  const w = results.find((x) => x.path === 'wire');
  const q = (pick: (x: CallsResult) => number) => round(ratio(h && pick(h), w && pick(w)), 2);
  return {
    setupP50HostsOverWire: q((x) => x.setupMs.p50),
    setupP99HostsOverWire: q((x) => x.setupMs.p99),
    closeP50HostsOverWire: q((x) => x.closeMs.p50),
    closeP99HostsOverWire: q((x) => x.closeMs.p99),
    callsPerSecHostsOverWire: q((x) => x.callsPerSec),
    callsPerSecConcurrentHostsOverWire: q((x) => x.callsPerSecConcurrent),
  };
}

/**
 * Runs the benchmark. The hosts path is skipped (with the reason in `skipped`) without root.
 * Everything made (cluster, node processes, wire nodes) is removed before it returns or throws;
 * an abort throws CallsInterrupted after that.
 */
export async function runCallsBench(o: CallsBenchOptions): Promise<CallsBenchReport> {
  const machine = describeMachine();
  const loadStart = machine.loadAvg[0];
  const wanted = o.paths ?? CALL_PATHS;
  const skipped: { path: CallPath; reason: string }[] = [];
  const runs: PathRun[] = [];
  try {
    for (const path of wanted) {
      checkAbort(o.signal);
      if (path === 'hosts') {
        const why = hostsUnavailable()?.why;
        if (why !== undefined) {
          skipped.push({ path, reason: why });
          o.log?.(`hosts path skipped: ${why}; only the wire path runs`);
          continue;
        }
        o.log?.(`hosts: cluster ${o.id} of 2 hosts (bridge + VXLAN), nodes with ${o.queuePairs} queue pairs`);
        runs.push(
          new PathRun(
            await openHostsPath({
              queuePairs: o.queuePairs,
              id: o.id,
              ...(o.signal ? { signal: o.signal } : {}),
            }),
          ),
        );
      } else {
        runs.push(new PathRun(await openWirePath(o.queuePairs)));
      }
    }
    const phases: [string, (r: PathRun) => Promise<void>][] = [
      ['warm-up', (r) => warmUp(r, o.warmup, o.signal)],
      ['sequential', (r) => sequential(r, o.calls, o.signal)],
      [`${o.concurrency} callers`, (r) => concurrent(r, o.calls, o.concurrency, o.signal)],
      ['most concurrent calls', (r) => mostConcurrent(r, o.queuePairs, o.signal)],
    ];
    const total = phases.length * runs.length;
    let done = 0;
    for (const [label, phase] of phases) {
      for (const r of runs) {
        o.onProgress?.(done, total, `${r.pair.path}: ${label}`);
        await phase(r);
        done++;
      }
    }
    o.onProgress?.(total, total, 'done');
    const results: CallsResult[] = [];
    for (const r of runs) {
      results.push({
        path: r.pair.path,
        queuePairs: o.queuePairs,
        calls: o.calls,
        setupMs: latency(r.setup),
        closeMs: latency(r.close),
        cycleMs: latency(r.cycle),
        callsPerSec: round(r.callsPerSec, 1) as number,
        callsPerSecConcurrent: round(r.callsPerSecConcurrent, 1) as number,
        concurrency: o.concurrency,
        maxConcurrent: r.maxConcurrent,
        limitCause: r.limitCause,
        limitMessage: r.limitMessage,
        ...(await r.pair.counters()),
      });
    }
    return {
      bench: 'calls',
      machine,
      load: { start: loadStart, end: describeMachine().loadAvg[0] },
      calls: o.calls,
      warmup: o.warmup,
      concurrency: o.concurrency,
      queuePairs: o.queuePairs,
      results,
      skipped,
      ratios: ratiosOf(results),
    };
  } catch (e) {
    // clusterUp's own abort error is an interruption too.
    if (o.signal?.aborted) throw new CallsInterrupted();
    throw e;
  } finally {
    await Promise.allSettled(runs.map((r) => r.pair.dispose()));
  }
}
