/**
 * The drain benchmark as a library: how long a VC deactivation takes with work outstanding, and
 * how much of that is ours. `runDrainBench()` opens the devices, runs the measured loop below and
 * returns a typed report; `condis bench drain` (lib/cli/bench-drain.ts) only parses its flags,
 * calls it and renders the report (table, JSON, SVG), and a user's program can call it the same
 * way. Layer: a scenario, above the whole stack (a device, NDIS with the verifier, the reference
 * MiniportAdapter, and the bench's own call manager and client from lib/bench/drain-rig.ts).
 *
 * For each depth d, every iteration:
 *   1. the far end sends d frames on the VC; the client holds them (d receives outstanding);
 *   2. the client sends d frames (one NdisCoSendNetBufferLists) that stay in flight;
 *   3. the call manager calls NdisCmDeactivateVc (t0); the far end starts taking frames and the
 *      client returns its held receives in the next macrotask;
 *   4. the call manager's deactivation completes (tDone).
 * drain = tDone - t0; overhead = tDone - max(last send completion, held receives returned): the
 * time between the last piece of outstanding work coming back and NDIS telling the call manager.
 * With d = 0 the reference instant is t0 itself (overhead = drain).
 *
 * Keeping d sends in flight:
 * - wire: the wire is lossless with per-queue flow control, so while the far end has no receive
 *   buffer posted the frames stay on our transmit ring; the far end posts its buffers right after
 *   NdisCmDeactivateVc. Deterministic: exactly d in flight at t0.
 * - tap: a TAP write never blocks, so nothing can hold frames on the ring from outside; the d
 *   sends go out in one burst and the deactivation is called in the same JS turn, while the
 *   device thread is still copying them to the kernel. How many were really still in flight at t0
 *   is read from the miniport's counter and reported (inFlight). Link down is no way to do it:
 *   the device fails transmits on a down link at once instead of holding them.
 *
 * The kernel's own quiesce of a TAP (lib/bench/kernel-quiesce.ts) runs interleaved with ours for
 * the same depths: ioctl(SIOCSIFFLAGS, down) with d frames queued towards an unread TAP. It needs
 * root; without it it is skipped with a note.
 *
 * The waits inside an iteration (`until`, `untilOrStalled`) spin through macrotasks on purpose:
 * a pending setImmediate keeps the event loop from sleeping in epoll_wait, so the device's
 * interrupt is handled as soon as it is raised; a promise resolved by the completion would let
 * the loop sleep, and the wake-up would land inside the measured span (t0 .. tDone).
 */

import { BenchCallManager, BenchClient } from '../bench/drain-rig';
import { FaultWatch } from '../bench/faults';
import { Histogram, type Percentiles, roundPercentiles } from '../bench/histogram';
import { KernelQuiesce } from '../bench/kernel-quiesce';
import { describeMachine, type MachineInfo } from '../bench/machine';
import {
  attributeTail,
  type DelaySnapshot,
  delayBetween,
  delaySnapshot,
  type TailAttribution,
} from '../bench/run-delay';
import type { Device } from '../device/device';
import { openTap, openWirePair, tapUnavailableReason } from '../device/open';
import { FramePort } from '../device/port';
import { CondisError } from '../errors';
import { mirred, quiet } from '../host/tc';
import { condisCallParameters } from '../medium/params';
import { MiniportAdapter } from '../miniport/adapter';
import type { MiniportVc } from '../miniport/vc';
import { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, statusName } from '../ndis/status';
import type { PcapWriter } from '../pcap/writer';

/** Extra unmeasured iterations of the first depth, for the JIT (see the loop). */
export const JIT_WARMUP = 3000;
/** Depths the JIT warm-up cycles through (at most the largest depth asked for). */
export const WARMUP_DEPTHS = [0, 1, 16] as const;
/** The deepest depth (sends in flight = receives held) a run may ask for. */
export const MAX_DEPTH = 4096;

const VID = 42;
const FRAME = 64;
const STEP_TIMEOUT_MS = 5000;

/** Where the frames moved on the VC go, with their VID (a PcapWriter is one). */
export type DrainCapture = Pick<PcapWriter, 'capture' | 'flushIfAbove'>;

export interface DrainBenchOptions {
  /** wire: in-process, no privilege; tap: two TAPs looped by the kernel, needs CAP_NET_ADMIN. */
  backend: 'tap' | 'wire';
  /** Depths to measure, each 0..MAX_DEPTH; measured in ascending order, duplicates dropped. */
  depths: readonly number[];
  /** Measured iterations per depth (>= 1). */
  iterations: number;
  /** Unmeasured iterations per depth first. */
  warmup: number;
  /** Compare with the kernel's quiesce of a TAP (needs root; skipped with a note without). */
  kernel: boolean;
  /** Extra unmeasured iterations of the first depth for the JIT (default JIT_WARMUP). */
  jitWarmup?: number;
  /**
   * Read the run-queue, other-thread and steal clocks around every measured iteration to
   * attribute the slowest 1% (DrainBenchRow.tail). Off by default: the reads (a dozen /proc files
   * per iteration) churn the caches and the heap, and moved the depth-0 p50 from 1.3-2.4 us to
   * 2.7-8.3 us when always on.
   */
  attribute?: boolean;
  /** NDIS's verifier (default 'throw'). */
  verifier?: 'throw' | 'off';
  /** Every frame moved on the VC, both ways, with VID 42 (for a pcap). */
  capture?: DrainCapture;
  /** Stops after the iteration under way; the report holds the depths finished. */
  signal?: AbortSignal;
  /** Called before every iteration (ours and the kernel's): how far the run is. */
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface DrainBenchRow {
  depth: number;
  iterations: number;
  /** Sends in flight at NdisCmDeactivateVc over the measured iterations (the wire: exactly depth). */
  inFlight: { mean: number; min: number; max: number };
  drainUs: Percentiles;
  overheadUs: Percentiles;
  /** The kernel's SIOCSIFFLAGS(down) at the same depth, or null when it was not compared. */
  kernelDownUs: Percentiles | null;
  /** What the kernel did with the frames queued at the down, summed over the measured iterations. */
  kernel: { sent: number; keptReadable: number; txDropped: number; rxDropped: number } | null;
  /**
   * The slowest 1% of the iterations and what they spent waiting for a CPU (lib/bench/run-delay):
   * a tail that is run-queue wait or steal is the machine's, not the drain's. null unless asked
   * for (DrainBenchOptions.attribute).
   */
  tail: TailAttribution | null;
}

export interface DrainTarget {
  target: string;
  measured: string;
  met: boolean;
}

export interface DrainBenchReport {
  bench: 'drain';
  backend: 'tap' | 'wire';
  machine: MachineInfo;
  loadAvgAfter: [number, number, number];
  config: {
    iterations: number;
    warmup: number;
    depths: number[];
    queueSize: number;
    frameBytes: number;
    vid: number;
  };
  /** The backend: what carried the frames, and how sends were kept in flight. */
  note: string;
  /** What the kernel comparison measured, or why it was skipped. */
  kernelNote: string;
  /** One row per depth finished (all of them unless interrupted). */
  rows: DrainBenchRow[];
  targets: DrainTarget[];
  /** True when `signal` stopped the run early. */
  interrupted: boolean;
  /** Whether the kernel comparison ran. */
  kernelCompared: boolean;
}

/** The devices of one backend: ours (with the miniport) and the far end's port on the VID. */
interface Bed {
  ours: Device;
  far: Device;
  peer: FramePort;
  note: string;
  names: string[];
}

function openBed(backend: 'tap' | 'wire', queueSize: number): Bed {
  if (backend === 'wire') {
    const [a, b] = openWirePair({ queuePairs: 2, queueSize });
    return { ours: a, far: b, peer: new FramePort(b, 1), note: 'wire: in-process', names: [] };
  }
  const n = process.pid % 100000;
  const names = [`cdrainA${n}`, `cdrainB${n}`];
  let a: Device;
  try {
    a = openTap({ name: names[0]!, queuePairs: 2, queueSize, up: false });
  } catch (e) {
    const why = tapUnavailableReason(e);
    if (why)
      throw new CondisError('ERR_CONDIS_BENCH_FAILED', `--backend tap needs root (CAP_NET_ADMIN): ${why}`);
    throw e;
  }
  let b: Device;
  try {
    b = openTap({ name: names[1]!, queuePairs: 2, queueSize, up: false });
  } catch (e) {
    a.destroy();
    throw e;
  }
  // Quiet (no IPv6) before the links come up, so the kernel sends nothing of its own.
  for (const x of names) quiet(x);
  a.setLink(true);
  b.setLink(true);
  mirred(names[0]!, names[1]!);
  mirred(names[1]!, names[0]!);
  return {
    ours: a,
    far: b,
    peer: new FramePort(b, 1),
    note: `tap: ${names[0]} <-> ${names[1]} (tc mirred); sends in flight by burst (see --help of the source)`,
    names,
  };
}

/**
 * Resolves once `cond()` holds, checking every macrotask (device interrupts run in between: a
 * spin on purpose, see the header); rejects with a device's fault as soon as one is reported.
 */
function until(cond: () => boolean, what: string, faults: FaultWatch): Promise<void> {
  faults.check();
  if (cond()) return Promise.resolve();
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (faults.fault) reject(faults.fault);
      else if (cond()) resolve();
      else if (Date.now() > deadline)
        reject(new CondisError('ERR_CONDIS_BENCH_FAILED', `timed out waiting for ${what}`));
      else setImmediate(check);
    };
    setImmediate(check);
  });
}

/**
 * Resolves once `cond()` holds, or once `progress()` has not moved for 20 ms; rejects with a
 * device's fault as soon as one is reported.
 */
function untilOrStalled(cond: () => boolean, progress: () => number, faults: FaultWatch): Promise<void> {
  let last = progress();
  let since = Date.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (faults.fault) {
        reject(faults.fault);
        return;
      }
      const now = progress();
      if (now !== last) {
        last = now;
        since = Date.now();
      }
      if (cond() || Date.now() - since > 20) resolve();
      else setImmediate(check);
    };
    check();
  });
}

function nextPow2(n: number): number {
  let p = 64;
  while (p < n) p *= 2;
  return p;
}

const r1 = (v: number) => Math.round(v * 10) / 10;

function checkOptions(o: DrainBenchOptions): number[] {
  const depths = [...new Set(o.depths)].sort((a, b) => a - b);
  if (depths.length === 0) throw new CondisError('ERR_CONDIS_INVALID_ARG', 'depths: none given');
  for (const d of depths) {
    if (!Number.isInteger(d) || d < 0 || d > MAX_DEPTH) {
      throw new CondisError('ERR_CONDIS_INVALID_ARG', `depths: ${d} is not a whole number 0..${MAX_DEPTH}`);
    }
  }
  if (!Number.isInteger(o.iterations) || o.iterations < 1) {
    throw new CondisError('ERR_CONDIS_INVALID_ARG', `iterations: ${o.iterations} (at least 1)`);
  }
  if (!Number.isInteger(o.warmup) || o.warmup < 0) {
    throw new CondisError('ERR_CONDIS_INVALID_ARG', `warmup: ${o.warmup} (0 or more)`);
  }
  return depths;
}

/** Runs the drain benchmark (see the header) and returns its report. */
export async function runDrainBench(opts: DrainBenchOptions): Promise<DrainBenchReport> {
  const { backend, iterations, warmup } = opts;
  const depths = checkOptions(opts);
  const jitWarmup = opts.jitWarmup ?? JIT_WARMUP;
  const maxDepth = Math.max(...depths, 1);
  const queueSize = nextPow2(maxDepth);
  const machine = describeMachine();
  const pcap = opts.capture ?? null;

  let interrupted = opts.signal?.aborted ?? false;
  const onAbort = () => {
    interrupted = true;
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // The kernel comparison: asked for unless opts.kernel is false; skipped (with a note) without root.
  let kernel: KernelQuiesce | null = null;
  let kernelNote = '';
  let bed: Bed | null = null;
  let faults: FaultWatch | null = null;
  let adapter: MiniportAdapter | null = null;
  try {
    if (opts.kernel) {
      if (typeof process.getuid === 'function' && process.getuid() !== 0) {
        kernelNote = 'kernel comparison skipped: it needs root (it creates a TAP)';
      } else {
        kernel = await KernelQuiesce.start(`cdrainK${process.pid % 100000}`, maxDepth);
      }
    }
    bed = openBed(backend, queueSize);
    const { ours, far, peer } = bed;
    // A fault on either device ends the run at once with its coded error (lib/bench/faults.ts):
    // every wait below rejects with it, and each step checks it.
    const watch = new FaultWatch([ours, far]);
    faults = watch;
    const ndis = new Ndis({ verifier: opts.verifier ?? 'throw', trace: false });
    adapter = new MiniportAdapter(ndis, ours, { name: 'bench-miniport' });
    let tMiniportSendsDone = 0;
    adapter.onSendsCompleted = () => {
      tMiniportSendsDone = performance.now();
    };
    const cm = new BenchCallManager(ndis, adapter.handle);
    const ourFrame = new Uint8Array(FRAME);
    ourFrame.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    const farFrame = new Uint8Array(FRAME);
    farFrame.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5]);
    const client = new BenchClient(ndis, adapter.handle, maxDepth, ourFrame);
    far.bindPair(1, VID);
    far.onInterrupt = () => peer.poll();
    if (pcap) peer.onFrame = (bytes, off, len) => pcap.capture(bytes, off, len, VID);
    const st = await client.connect(condisCallParameters(VID));
    watch.check();
    if (st !== NDIS_STATUS_SUCCESS)
      throw new CondisError('ERR_CONDIS_BENCH_FAILED', `make call on VID ${VID}: ${statusName(st)}`);
    const vc = adapter.vcFor(client.vc) as MiniportVc;
    const farTokens = new Uint32Array(queueSize);
    if (backend === 'tap') peer.postRx();

    const total = (depths.length * (iterations + warmup) + jitWarmup) * (kernel ? 2 : 1);
    const onProgress = opts.onProgress;
    const progress = {
      update: (done: number, label: string) => onProgress?.(done, total, label),
    };
    let step = 0;
    const rows: DrainBenchRow[] = [];
    const drain = new Histogram();
    const overhead = new Histogram();
    const kdown = new Histogram();

    for (const [di, depth] of depths.entries()) {
      // The first depth also warms the JIT up for the whole path (measured: p50 at depth 0 drops
      // from ~11 µs to ~4 µs once some 3,000 deactivations have run); later depths reuse it.
      const wu = di === 0 ? warmup + jitWarmup : warmup;
      drain.reset();
      overhead.reset();
      kdown.reset();
      let inSum = 0;
      let inMin = Number.POSITIVE_INFINITY;
      let inMax = 0;
      const ks = { sent: 0, keptReadable: 0, txDropped: 0, rxDropped: 0 };
      const delays: [number, DelaySnapshot][] = [];
      for (let it = 0; it < wu + iterations && !interrupted; it++) {
        const measured = it >= wu;
        // The JIT warm-up cycles through depths 0, 1 and 16 (cheap), so the synchronous path (nothing
        // in flight) and the interrupt-driven one (work in flight) are both compiled before anything
        // is measured: warmed at depth 0 only, depth 1 measured V8's lower tiers (p50 ~10 us, ~2.5 us
        // once warm).
        const d =
          di === 0 && it < jitWarmup ? Math.min(WARMUP_DEPTHS[it % WARMUP_DEPTHS.length]!, maxDepth) : depth;
        progress.update(++step, `depth ${depth}`);
        // The run-queue and steal clocks, read around the whole iteration: here, not just before
        // t0 (reading /proc there left the caches cold for the span: +1.2 us at depth 0).
        const before = measured && opts.attribute ? delaySnapshot() : null;
        // 1. d receives held by the client.
        client.resetCounts();
        client.hold = true;
        // At most 256 at a time, and what the kernel lost on a TAP loop is sent again.
        for (let tries = 0; client.heldCount < d; tries++) {
          if (tries > 1000)
            throw new CondisError('ERR_CONDIS_BENCH_FAILED', `could not get ${d} receives held`);
          if (peer.txRoom() === 0) {
            // The far end's ring is full until its completions are harvested, which its interrupt
            // does: wait for that (a macrotask) instead of spinning through the tries in microtasks.
            await untilOrStalled(
              () => peer.txRoom() > 0,
              () => peer.txRoom(),
              watch,
            );
            continue;
          }
          const target = client.heldCount + Math.min(256, d - client.heldCount, peer.txRoom());
          for (let i = client.heldCount; i < target; i++) {
            peer.send(farFrame);
            pcap?.capture(farFrame, 0, FRAME, VID);
          }
          peer.flush();
          // The wire loses nothing: wait for every frame. Only a TAP loop may drop some, and a
          // stall of 20 ms sends what is missing again; on the wire, under load, that stall came
          // from a busy CPU and the frames sent again were held too (more than d outstanding).
          if (backend === 'wire') await until(() => client.heldCount >= target, 'receives to hold', watch);
          else {
            await untilOrStalled(
              () => client.heldCount >= target,
              () => client.heldCount,
              watch,
            );
          }
        }

        // 2. d sends in flight. On the wire the far end takes nothing until after t0.
        if (backend === 'wire') {
          // What the far end received last iteration is harvested (and captured) first: its
          // interrupt may still be queued behind this code, and the reset would drop it.
          peer.poll();
          const n = far.resetQueue(2, farTokens);
          peer.rxPool.freeMany(farTokens, n);
        }
        client.send(d);
        if (backend === 'wire') await until(() => vc.txInFlight === d, 'sends on the ring', watch);
        // 3. Deactivate; the far end starts taking frames; the held receives come back next.
        const inFlight = vc.txInFlight;
        const dst = cm.deactivate();
        if (backend === 'wire') peer.postRx();
        if (dst === NDIS_STATUS_PENDING) {
          setImmediate(() => client.returnHeld());
          await until(() => cm.completed, `the deactivation at d ${d}`, watch);
        } else {
          client.returnHeld();
        }
        watch.check(); // a fault aborts the drain: its code says more than the status
        if (cm.lastStatus !== NDIS_STATUS_SUCCESS) {
          throw new CondisError(
            'ERR_CONDIS_BENCH_FAILED',
            `deactivation at d ${d} completed with ${statusName(cm.lastStatus)}`,
          );
        }
        if (client.completed !== d) {
          throw new CondisError(
            'ERR_CONDIS_BENCH_FAILED',
            `d ${d}: ${client.completed} of ${d} sends completed`,
          );
        }
        if (measured) {
          // The hardware's drain ends at the later of: the miniport handing the last send
          // completion to NDIS, and the client returning the last held receive. (The client's
          // own completion callback comes a microtask later, after the teardown: too late a mark.)
          const ref = d === 0 ? cm.t0 : Math.max(tMiniportSendsDone, client.tReturn, cm.t0);
          drain.record((cm.tDone - cm.t0) * 1e6);
          overhead.record((cm.tDone - ref) * 1e6);
          if (before) delays.push([(cm.tDone - cm.t0) * 1e3, delayBetween(before, delaySnapshot())]);
          inSum += inFlight;
          if (inFlight < inMin) inMin = inFlight;
          if (inFlight > inMax) inMax = inFlight;
        }
        // 4. Re-activate for the next iteration (a new activation era needs new parameters).
        client.hold = false;
        const ast = await cm.activate(condisCallParameters(VID));
        watch.check();
        if (ast !== NDIS_STATUS_SUCCESS)
          throw new CondisError('ERR_CONDIS_BENCH_FAILED', `re-activation: ${statusName(ast)}`);
        pcap?.flushIfAbove(1 << 20);
      }
      // The last iteration's frames at the far end, harvested (and captured) before it closes.
      if (backend === 'wire') peer.poll();
      // The kernel's quiesce at the same depth, in its own phase right after ours: interleaved
      // per iteration, the helper process's wakeups landed inside our measured spans (and ours
      // inside its), on two cores.
      for (let it = 0; kernel && it < wu + iterations && !interrupted; it++) {
        progress.update(++step, `depth ${depth}, kernel`);
        const k = await kernel.sample(depth);
        if (it >= wu) {
          kdown.record(k.ns);
          ks.sent += k.sent;
          ks.keptReadable += k.readable;
          ks.txDropped += k.txDropped;
          ks.rxDropped += k.rxDropped;
        }
      }
      if (interrupted) break;
      rows.push({
        depth,
        iterations,
        inFlight: { mean: r1(inSum / iterations), min: inMin, max: inMax },
        drainUs: roundPercentiles(drain.percentiles(1e-3)),
        overheadUs: roundPercentiles(overhead.percentiles(1e-3)),
        kernelDownUs: kernel ? roundPercentiles(kdown.percentiles(1e-3)) : null,
        kernel: kernel ? ks : null,
        tail: attributeTail(delays),
      });
    }

    const after = describeMachine();
    return {
      bench: 'drain',
      backend,
      machine,
      loadAvgAfter: after.loadAvg,
      config: { iterations, warmup, depths, queueSize, frameBytes: FRAME, vid: VID },
      note: bed.note,
      kernelNote: kernel
        ? 'kernel: ioctl(SIOCSIFFLAGS, down) on an unread TAP with DEPTH frames queued by AF_PACKET; timed in the helper'
        : kernelNote || 'kernel comparison skipped (--no-kernel)',
      rows,
      targets: checkTargets(rows),
      interrupted,
      kernelCompared: kernel !== null,
    };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    faults?.dispose();
    kernel?.stop();
    if (bed) {
      bed.far.destroy();
      bed.ours.destroy();
    }
  }
}

/** The targets the benchmark is held to, against the rows measured. */
export function checkTargets(rows: readonly DrainBenchRow[]): DrainTarget[] {
  const out: DrainTarget[] = [];
  const worst50 = Math.max(...rows.map((r) => r.overheadUs.p50));
  const worst99 = Math.max(...rows.map((r) => r.overheadUs.p99));
  out.push({
    target: 'overhead p50 <= 20 us at every depth',
    measured: `worst ${worst50} us`,
    met: worst50 <= 20,
  });
  out.push({
    target: 'overhead p99 <= 100 us at every depth',
    measured: `worst ${worst99} us`,
    met: worst99 <= 100,
  });
  const idle = rows.find((r) => r.depth === 0);
  if (idle) {
    out.push({
      target: 'drain at depth 0 p50 <= 5 us',
      measured: `${idle.drainUs.p50} us`,
      met: idle.drainUs.p50 <= 5,
    });
    if (idle.kernelDownUs) {
      const x = idle.kernelDownUs.p50 / Math.max(idle.drainUs.p50, 0.1);
      out.push({
        target: ">= 10x faster than the kernel's quiesce of an idle TAP (p50)",
        measured: `${x.toFixed(1)}x (kernel ${idle.kernelDownUs.p50} us)`,
        met: x >= 10,
      });
    }
  }
  return out;
}
