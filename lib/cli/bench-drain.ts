/**
 * `condis bench drain`: how long a VC deactivation takes with work outstanding, and how much of
 * that is ours. For each depth d, every iteration:
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
 * root; without it (and not asked for with --backend tap) it is skipped with a note.
 */

import * as fs from 'node:fs';
import { BenchCallManager, BenchClient } from '../bench/drain-rig';
import { FaultWatch } from '../bench/faults';
import { Histogram, type Percentiles } from '../bench/histogram';
import { KernelQuiesce } from '../bench/kernel-quiesce';
import { describeMachine, machineLine } from '../bench/machine';
import { ProgressBar } from '../bench/progress';
import { lineChartSvg, type Series } from '../bench/svg-chart';
import { formatTable } from '../bench/table';
import type { Device } from '../device/device';
import { openTap, openWirePair, tapUnavailableReason } from '../device/open';
import { FramePort } from '../device/port';
import { mirred, quiet } from '../host/tc';
import { condisCallParameters } from '../medium/params';
import { MiniportAdapter } from '../miniport/adapter';
import type { MiniportVc } from '../miniport/vc';
import { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, statusName } from '../ndis/status';
import { PcapWriter } from '../pcap/writer';
import { choice, intFlag, parse, UsageError } from './usage';

/** Extra unmeasured iterations of the first depth, for the JIT (see the loop). */
export const JIT_WARMUP = 3000;
/** Depths the JIT warm-up cycles through (at most the largest depth asked for). */
export const WARMUP_DEPTHS = [0, 1, 16] as const;

const HELP = `usage: condis bench drain [--backend tap|wire] [--depths LIST] [--iterations N]
                         [--warmup N] [--no-kernel] [--json FILE] [--svg FILE] [--pcap FILE]

Time from NdisCmDeactivateVc to the call manager's deactivation completion with DEPTH sends in
flight and DEPTH receives held by the client (returned during the drain), and the overhead above
the moment the last of them came back. Compared with the kernel's quiesce of a TAP (the interface
taken down with DEPTH frames queued), measured in the same run (needs root; else skipped).

  --backend     wire (default): in-process, no privilege; tap: two TAPs looped by the kernel
                (tc mirred), needs CAP_NET_ADMIN
  --depths      comma-separated depths, 0..4096 (default 0,1,16,256,1024)
  --iterations  measured iterations per depth (default 200)
  --warmup      unmeasured iterations per depth first, so the JIT has optimized the path (default 500)
  --no-kernel   skip the kernel comparison
  --json FILE   write the report as JSON
  --svg FILE    write a chart of latency against depth (log scales) as SVG
  --pcap FILE   write the frames moved on the VC (802.1Q tag re-inserted) as pcap

Percentiles come from a log-linear histogram (under 1% error); max is exact.
Targets: overhead p50 <= 20 us and p99 <= 100 us at every depth; drain at depth 0 p50 <= 5 us
and at least 10x faster than the kernel's quiesce of an idle TAP.

example: condis bench drain --depths 0,16,1024 --iterations 500 --json drain.json --svg drain.svg`;

const VID = 42;
const FRAME = 64;
const MAX_DEPTH = 4096;
const STEP_TIMEOUT_MS = 5000;

export function parseDepths(v: string | boolean | undefined): number[] {
  if (v === undefined) return [0, 1, 16, 256, 1024];
  if (typeof v !== 'string' || !/^\d+(,\d+)*$/.test(v)) {
    throw new UsageError('--depths must be a comma-separated list of whole numbers, e.g. 0,1,16,256');
  }
  const out = [...new Set(v.split(',').map(Number))].sort((a, b) => a - b);
  const bad = out.find((d) => d > MAX_DEPTH);
  if (bad !== undefined) throw new UsageError(`--depths: ${bad} is above ${MAX_DEPTH}`);
  return out;
}

interface Row {
  depth: number;
  iterations: number;
  inFlight: { mean: number; min: number; max: number };
  drainUs: Percentiles;
  overheadUs: Percentiles;
  kernelDownUs: Percentiles | null;
  kernel: { sent: number; keptReadable: number; txDropped: number; rxDropped: number } | null;
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
    if (why) throw new Error(`--backend tap needs root (CAP_NET_ADMIN): ${why}`);
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
 * Resolves once `cond()` holds, checking every macrotask (device interrupts run in between);
 * rejects with a device's fault as soon as one is reported.
 */
function until(cond: () => boolean, what: string, faults: FaultWatch): Promise<void> {
  faults.check();
  if (cond()) return Promise.resolve();
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (faults.fault) reject(faults.fault);
      else if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
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
const roundP = (p: Percentiles): Percentiles => ({
  p50: r1(p.p50),
  p90: r1(p.p90),
  p99: r1(p.p99),
  p999: r1(p.p999),
  max: r1(p.max),
});

export async function benchDrain(argv: string[]): Promise<number> {
  const f = parse(argv, {
    backend: { type: 'string' },
    depths: { type: 'string' },
    iterations: { type: 'string' },
    warmup: { type: 'string' },
    'no-kernel': { type: 'boolean' },
    json: { type: 'string' },
    svg: { type: 'string' },
    pcap: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (f.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const backend = choice('backend', f.backend, ['tap', 'wire'] as const, 'wire');
  const depths = parseDepths(f.depths);
  const iterations = intFlag('iterations', f.iterations, 200, 1, 1_000_000);
  const warmup = intFlag('warmup', f.warmup, 500, 0, 1_000_000);
  for (const k of ['json', 'svg', 'pcap'] as const) {
    if (f[k] === '') throw new UsageError(`--${k} needs a file name`);
  }
  const maxDepth = Math.max(...depths, 1);
  const queueSize = nextPow2(maxDepth);
  const machine = describeMachine();

  // The kernel comparison: asked for unless --no-kernel; skipped (with a note) without root.
  let kernel: KernelQuiesce | null = null;
  let kernelNote = '';
  if (!f['no-kernel']) {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      kernelNote = 'kernel comparison skipped: it needs root (it creates a TAP)';
    } else {
      kernel = await KernelQuiesce.start(`cdrainK${process.pid % 100000}`, maxDepth);
    }
  }
  const pcap = typeof f.pcap === 'string' ? new PcapWriter(f.pcap) : null;
  let bed: Bed | null = null;
  let faults: FaultWatch | null = null;
  let adapter: MiniportAdapter | null = null;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSigint);
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    bed = openBed(backend, queueSize);
    const { ours, far, peer } = bed;
    // A fault on either device ends the run at once with its coded error (lib/bench/faults.ts):
    // every wait below rejects with it, and each step checks it.
    const watch = new FaultWatch([ours, far]);
    faults = watch;
    const ndis = new Ndis({
      verifier: process.env.CONDIS_VERIFIER === 'off' ? 'off' : 'throw',
      trace: false,
    });
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
    if (st !== NDIS_STATUS_SUCCESS) throw new Error(`make call on VID ${VID}: ${statusName(st)}`);
    const vc = adapter.vcFor(client.vc) as MiniportVc;
    const farTokens = new Uint32Array(queueSize);
    if (backend === 'tap') peer.postRx();

    const progress = new ProgressBar((depths.length * (iterations + warmup) + JIT_WARMUP) * (kernel ? 2 : 1));
    let step = 0;
    const rows: Row[] = [];
    const drain = new Histogram();
    const overhead = new Histogram();
    const kdown = new Histogram();

    for (const [di, depth] of depths.entries()) {
      // The first depth also warms the JIT up for the whole path (measured: p50 at depth 0 drops
      // from ~11 µs to ~4 µs once some 3,000 deactivations have run); later depths reuse it.
      const wu = di === 0 ? warmup + JIT_WARMUP : warmup;
      drain.reset();
      overhead.reset();
      kdown.reset();
      let inSum = 0;
      let inMin = Number.POSITIVE_INFINITY;
      let inMax = 0;
      const ks = { sent: 0, keptReadable: 0, txDropped: 0, rxDropped: 0 };
      for (let it = 0; it < wu + iterations && !interrupted; it++) {
        const measured = it >= wu;
        // The JIT warm-up cycles through depths 0, 1 and 16 (cheap), so the synchronous path (nothing
        // in flight) and the interrupt-driven one (work in flight) are both compiled before anything
        // is measured: warmed at depth 0 only, depth 1 measured V8's lower tiers (p50 ~10 us, ~2.5 us
        // once warm).
        const d =
          di === 0 && it < JIT_WARMUP ? Math.min(WARMUP_DEPTHS[it % WARMUP_DEPTHS.length]!, maxDepth) : depth;
        progress.update(++step, `depth ${depth}`);
        // 1. d receives held by the client.
        client.resetCounts();
        client.hold = true;
        // At most 256 at a time, and what the kernel lost on a TAP loop is sent again.
        for (let tries = 0; client.heldCount < d; tries++) {
          if (tries > 1000) throw new Error(`could not get ${d} receives held`);
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
          await untilOrStalled(
            () => client.heldCount >= target,
            () => client.heldCount,
            watch,
          );
        }

        // 2. d sends in flight. On the wire the far end takes nothing until after t0.
        if (backend === 'wire') {
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
          throw new Error(`deactivation at d ${d} completed with ${statusName(cm.lastStatus)}`);
        }
        if (client.completed !== d) {
          throw new Error(`d ${d}: ${client.completed} of ${d} sends completed`);
        }
        if (measured) {
          // The hardware's drain ends at the later of: the miniport handing the last send
          // completion to NDIS, and the client returning the last held receive. (The client's
          // own completion callback comes a microtask later, after the teardown: too late a mark.)
          const ref = d === 0 ? cm.t0 : Math.max(tMiniportSendsDone, client.tReturn, cm.t0);
          drain.record((cm.tDone - cm.t0) * 1e6);
          overhead.record((cm.tDone - ref) * 1e6);
          inSum += inFlight;
          if (inFlight < inMin) inMin = inFlight;
          if (inFlight > inMax) inMax = inFlight;
        }
        // 4. Re-activate for the next iteration (a new activation era needs new parameters).
        client.hold = false;
        const ast = await cm.activate(condisCallParameters(VID));
        watch.check();
        if (ast !== NDIS_STATUS_SUCCESS) throw new Error(`re-activation: ${statusName(ast)}`);
        pcap?.flushIfAbove(1 << 20);
      }
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
        drainUs: roundP(drain.percentiles(1e-3)),
        overheadUs: roundP(overhead.percentiles(1e-3)),
        kernelDownUs: kernel ? roundP(kdown.percentiles(1e-3)) : null,
        kernel: kernel ? ks : null,
      });
    }
    progress.done();

    const after = describeMachine();
    const targets = checkTargets(rows);
    const report = {
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
      targets,
    };
    out(`condis bench drain: backend ${bed.note}`);
    out(
      `machine: ${machineLine(machine)}; load average ${machine.loadAvg.join(' ')} before, ${after.loadAvg.join(' ')} after`,
    );
    if (!kernel) out(report.kernelNote);
    out('');
    out(renderTable(rows));
    out('');
    for (const t of targets) out(`${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.measured}`);
    if (kernel) {
      out('');
      out('what the kernel did with the queued frames at the down (summed over the measured iterations):');
      for (const r of rows) {
        const k = r.kernel!;
        out(
          `  depth ${r.depth}: sent ${k.sent}, still readable after the down ${k.keptReadable}, tx_dropped +${k.txDropped}, rx_dropped +${k.rxDropped}`,
        );
      }
      out('  (condis delivers every in-flight frame before the deactivation completes: see the pcap)');
    }
    if (typeof f.json === 'string') fs.writeFileSync(f.json, `${JSON.stringify(report, null, 2)}\n`);
    if (typeof f.svg === 'string') fs.writeFileSync(f.svg, chart(rows, backend, machine.loadAvg));
    if (pcap) out(`pcap: ${pcap.frames} frames -> ${pcap.file}`);
    return interrupted ? 130 : 0;
  } finally {
    faults?.dispose();
    process.off('SIGINT', onSigint);
    kernel?.stop();
    pcap?.close();
    if (bed) {
      bed.far.destroy();
      bed.ours.destroy();
    }
  }
}

interface TargetResult {
  target: string;
  measured: string;
  met: boolean;
}

function checkTargets(rows: Row[]): TargetResult[] {
  const out: TargetResult[] = [];
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

function renderTable(rows: Row[]): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
  const headers = [
    'depth',
    'in-flight',
    'drain p50',
    'p90',
    'p99',
    'p99.9',
    'max',
    'ovh p50',
    'p99',
    'max',
    'kernel p50',
    'p99',
    'max',
  ];
  const body = rows.map((r) => [
    String(r.depth),
    f(r.inFlight.mean),
    f(r.drainUs.p50),
    f(r.drainUs.p90),
    f(r.drainUs.p99),
    f(r.drainUs.p999),
    f(r.drainUs.max),
    f(r.overheadUs.p50),
    f(r.overheadUs.p99),
    f(r.overheadUs.max),
    r.kernelDownUs ? f(r.kernelDownUs.p50) : '-',
    r.kernelDownUs ? f(r.kernelDownUs.p99) : '-',
    r.kernelDownUs ? f(r.kernelDownUs.max) : '-',
  ]);
  return `latencies in us, ${rows[0]?.iterations ?? 0} iterations per depth (in-flight: mean sends in flight at NdisCmDeactivateVc)\n${formatTable(headers, body)}`;
}

function chart(rows: Row[], backend: string, load: [number, number, number]): string {
  const pts = (pick: (r: Row) => number | undefined) =>
    rows.map((r) => [r.depth, pick(r) ?? Number.NaN] as const);
  const series: Series[] = [
    { name: 'drain p50', points: pts((r) => r.drainUs.p50), color: '#1f77b4' },
    { name: 'drain p90', points: pts((r) => r.drainUs.p90), color: '#2ca02c' },
    { name: 'drain p99', points: pts((r) => r.drainUs.p99), color: '#ff7f0e' },
    { name: 'drain p99.9', points: pts((r) => r.drainUs.p999), color: '#d62728' },
    { name: 'overhead p50', points: pts((r) => r.overheadUs.p50), color: '#1f77b4', dash: '2 3' },
    { name: 'overhead p99', points: pts((r) => r.overheadUs.p99), color: '#ff7f0e', dash: '2 3' },
  ];
  if (rows.some((r) => r.kernelDownUs)) {
    series.push(
      { name: 'kernel ifdown p50', points: pts((r) => r.kernelDownUs?.p50), color: '#555', dash: '7 4' },
      { name: 'kernel ifdown p99', points: pts((r) => r.kernelDownUs?.p99), color: '#999', dash: '7 4' },
    );
  }
  return lineChartSvg(series, {
    title: `condis bench drain (${backend}): deactivation latency against depth`,
    subtitle: `${rows[0]?.iterations ?? 0} iterations per depth; load average ${load.join(' ')}`,
    xLabel: 'depth (sends in flight = receives held), log scale',
    yLabel: 'microseconds (log scale)',
    xTicks: rows.map((r) => r.depth),
  });
}
