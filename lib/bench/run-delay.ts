/**
 * Where a slow iteration's time went when it was not ours to spend: the time this process's
 * threads sat runnable but not running (the scheduler's run queue, /proc/self/task/N/schedstat
 * field 2), who else had the CPUs meanwhile (the other threads of this process, such as V8's
 * compiler and GC workers, and the rest of the machine, from /proc/stat), and the time the
 * hypervisor took the CPUs away (steal). The drain benchmark reads these around each
 * deactivation, outside the measured span, so its slowest iterations can be told apart: a tail
 * that is run-queue wait is the machine's (or a competing thread's), one that is not is ours.
 * Not for hot paths: each snapshot reads one small file per thread.
 */
import * as fs from 'node:fs';

export interface DelaySnapshot {
  /** Run-queue wait of the JS thread and the device threads (names "condis-..."), ns. */
  waitNs: number;
  /** CPU time of this process's other threads (V8's workers, libuv's pool...), ns. */
  otherRunNs: number;
  /** CPU time of the whole machine (all CPUs, not idle, not steal), ns; USER_HZ resolution. */
  machineBusyNs: number;
  /** CPU time of this whole process, ns. */
  selfRunNs: number;
  /** Steal time of all CPUs, ns (USER_HZ ticks). */
  stealNs: number;
}

const TICK_NS = 10_000_000; // USER_HZ is 100 on every Linux ABI node runs on

/** A snapshot; zeros where /proc is unavailable (then every delay reads 0). */
export function delaySnapshot(): DelaySnapshot {
  const s: DelaySnapshot = { waitNs: 0, otherRunNs: 0, machineBusyNs: 0, selfRunNs: 0, stealNs: 0 };
  let tids: string[] = [];
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    // no /proc
  }
  for (const t of tids) {
    try {
      const ours =
        Number(t) === process.pid ||
        fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').startsWith('condis');
      const f = fs.readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ');
      const run = Number(f[0]);
      s.selfRunNs += run;
      if (ours) s.waitNs += Number(f[1]);
      else s.otherRunNs += run;
    } catch {
      // the thread exited between readdir and read
    }
  }
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    s.machineBusyNs = (cpu[0]! + cpu[1]! + cpu[2]! + cpu[5]! + cpu[6]!) * TICK_NS;
    s.stealNs = (cpu[7] ?? 0) * TICK_NS;
  } catch {
    // no /proc/stat
  }
  return s;
}

/** The difference of two snapshots, per field. */
export function delayBetween(a: DelaySnapshot, b: DelaySnapshot): DelaySnapshot {
  return {
    waitNs: b.waitNs - a.waitNs,
    otherRunNs: b.otherRunNs - a.otherRunNs,
    machineBusyNs: b.machineBusyNs - a.machineBusyNs,
    selfRunNs: b.selfRunNs - a.selfRunNs,
    stealNs: b.stealNs - a.stealNs,
  };
}

/** What the slowest iterations spent waiting for a CPU, and who had it (µs, means over them). */
export interface TailAttribution {
  /** Iterations at or above the p99 drain (at least one). */
  iterations: number;
  /** Their mean drain, and the median drain of all, µs. */
  drainUs: number;
  medianUs: number;
  /** Their mean run-queue wait of our threads during the deactivation, µs. */
  runQueueUs: number;
  /** CPU time of this process's other threads (V8's workers...) meanwhile, µs. */
  otherThreadsUs: number;
  /** CPU time of other processes meanwhile, µs (10 ms resolution: an estimate over few iterations). */
  otherProcessesUs: number;
  /** Their mean steal, µs (10 ms resolution: 0 or >= 10,000). */
  stealUs: number;
}

/** The tail of one depth: one [drainUs, delays during it] per measured iteration. */
export function attributeTail(
  samples: readonly (readonly [number, DelaySnapshot])[],
): TailAttribution | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a[0] - b[0]);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]![0];
  const tail = sorted.slice(Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99)));
  const mean = (pick: (x: readonly [number, DelaySnapshot]) => number) =>
    Math.round((tail.reduce((s, x) => s + pick(x), 0) / tail.length) * 10) / 10;
  return {
    iterations: tail.length,
    drainUs: mean((x) => x[0]),
    medianUs: Math.round(median * 10) / 10,
    runQueueUs: mean((x) => x[1].waitNs / 1000),
    otherThreadsUs: mean((x) => x[1].otherRunNs / 1000),
    otherProcessesUs: mean((x) => Math.max(0, x[1].machineBusyNs - x[1].selfRunNs) / 1000),
    stealUs: mean((x) => x[1].stealNs / 1000),
  };
}
