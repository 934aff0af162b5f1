/**
 * Per-thread CPU time of this process (Linux /proc/self/task), to see where a benchmark's time
 * went: the JS thread, native worker threads (by name), or everything else. Not for hot paths:
 * each snapshot reads one small file per thread.
 */
import * as fs from 'node:fs';

export interface ThreadTimes {
  /** tid -> [thread name, user ms, system ms] */
  threads: Map<number, [string, number, number]>;
}

const TICK_MS = 10; // USER_HZ is 100 on every Linux ABI node runs on

/** A snapshot of every thread's CPU time; empty where /proc is unavailable. */
export function threadTimes(): ThreadTimes {
  const threads = new Map<number, [string, number, number]>();
  let tids: string[];
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    return { threads };
  }
  for (const t of tids) {
    try {
      const st = fs.readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const open = st.indexOf('(');
      const close = st.lastIndexOf(')');
      const name = st.slice(open + 1, close);
      // Fields after ")": state is field 3 of stat(5), utime 14, stime 15 -> indexes 11, 12 here.
      const f = st.slice(close + 2).split(' ');
      threads.set(Number(t), [name, Number(f[11]) * TICK_MS, Number(f[12]) * TICK_MS]);
    } catch {
      // the thread exited between readdir and read
    }
  }
  return { threads };
}

export interface CpuSplit {
  /** The main (JS) thread. */
  js: { userMs: number; sysMs: number };
  /** Threads grouped by name (threads that share a name are summed). */
  named: Record<string, { userMs: number; sysMs: number }>;
}

/**
 * CPU time spent between two snapshots, split into the JS thread and threads whose name passes
 * `keep` (everything else is summed under "other"). Threads started after `before` count from 0.
 */
export function cpuBetween(
  before: ThreadTimes,
  after: ThreadTimes,
  keep: (name: string) => boolean,
): CpuSplit {
  const out: CpuSplit = { js: { userMs: 0, sysMs: 0 }, named: {} };
  for (const [tid, [name, u1, s1]] of after.threads) {
    const prev = before.threads.get(tid);
    const du = u1 - (prev?.[1] ?? 0);
    const ds = s1 - (prev?.[2] ?? 0);
    if (tid === process.pid) {
      out.js.userMs += du;
      out.js.sysMs += ds;
      continue;
    }
    const key = keep(name) ? name : 'other';
    let e = out.named[key];
    if (e === undefined) {
      e = { userMs: 0, sysMs: 0 };
      out.named[key] = e;
    }
    e.userMs += du;
    e.sysMs += ds;
  }
  return out;
}
