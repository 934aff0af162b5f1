/**
 * The pps benchmark's engine, shared by `condis bench pps` (through lib/scenarios/pps-bench.ts)
 * and `npm run bench:pps` (scripts/bench/pps/run.ts): frames per second through our rings, and
 * the C reference (cref.c) over the same kernel loop.
 *
 *   TAP:  a one-way kernel loop tapA -> tapB (tap-loop.sh: tc mirred from A's ingress to B's
 *         egress), and repetitions, interleaved, of
 *           condis       one FramePort on a device attached to tapA sends N frames, one on tapB's
 *                        device receives them (sends driven from the interrupt callbacks, window)
 *           c-per-frame  cref --mode per-frame: one write()/read() per frame
 *           c-io_uring   cref --mode uring-ms (Linux 6.7+; else uring): io_uring batches, the
 *                        reader one armed multishot read (crefUringMode says why)
 *         A TAP without multi_queue takes one fd, so our devices are closed while cref runs and
 *         reopened for each of our repetitions.
 *   wire: the in-process wire backend alone (openWirePair).
 *   heap: the wire again, JS heapUsed after a full GC before and after.
 *
 * Everything the engine opens (devices, the cref child, the TAP loop) is tracked, and
 * cleanupSync() removes it: on a normal end, on errors, after interrupt() (an AbortSignal in
 * lib/scenarios/pps-bench.ts), and from the signal handlers that installSignalHandlers() puts in
 * place (scripts/bench/pps/run.ts).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as os from 'node:os';
import { setThreadCpus } from '../../device/affinity';
import type { Device } from '../../device/device';
import { openTap, openWirePair, tapUnavailableReason } from '../../device/open';
import type { DeviceOptions } from '../../device/options';
import { FramePort } from '../../device/port';
import { cpuBetween, threadTimes } from '../cpu';
import { FaultWatch } from '../faults';
import { fullGc, GcCounter, type GcCounts, getGc, heapSample } from '../heap';
import { median, ratio, round } from '../stats';
import { fmtBytes, fmtInt } from '../table';
import { type PpsFiles, ppsFiles } from './files';
import { runPhase } from './phase';

export type CPath = 'c-per-frame' | 'c-io_uring';

/**
 * The io_uring reader the C reference runs as c-io_uring: the best one this kernel has.
 * `uring-ms` (one multishot read over provided buffers, Linux 6.7+) against `uring` (--batch
 * single-shot reads kept armed), 7 interleaved reps of 500,000 frames each on the 2-core VM:
 * 64 bytes 930 vs 925 kpps at 0.48 vs 0.51 CPU-s; 1500 bytes 743 vs 621 kpps at 0.65 vs 0.81
 * CPU-s. Same or faster, and cheaper: the reference is never the weaker one.
 */
export function crefUringMode(release: string = os.release()): 'uring' | 'uring-ms' {
  const [maj = 0, min = 0] = release.split('.').map((x) => Number.parseInt(x, 10));
  return maj > 6 || (maj === 6 && min >= 7) ? 'uring-ms' : 'uring';
}
export type PathName = 'condis' | CPath;
export const ALL_PATHS: readonly PathName[] = ['condis', 'c-per-frame', 'c-io_uring'];

export interface PpsConfig {
  /** Frames per measured TAP run (also what cref is told to send). */
  frames: number;
  /** Max frames the sender may be ahead of the receiver on the TAP loop (condis and cref). */
  window: number;
  /** Frames moved and discarded before each measured run. */
  warmup: number;
  /** condis descriptors per queue (power of two). */
  queueSize: number;
  /** Frames per device service pass (condis) and per io_uring submission (cref). */
  batch: number;
  /** Device threads busy-poll this long before sleeping; null = the library's default. */
  pollUs: number | null;
  /**
   * The wire runs pin the JS thread and the two device threads to these CPUs (setThreadCpus,
   * DeviceOptions.cpus); null (the default) = as the scheduler sees fit. For experiments: on the
   * 2-core VM, JS on CPU 0 and the devices on CPU 1 moved 4.4-4.9 Mpps against 5.1-6.4 unpinned
   * (3 runs each). The TAP runs have their own setting, tapCpus.
   */
  wireCpus: WireCpus | null;
  /**
   * The TAP runs pin the JS thread, the sending device's thread and the receiving device's
   * thread to these CPUs, and cref's writer and reader to the same tx and rx CPUs (so both sides
   * get the same placement); null (the default) = as the scheduler sees fit, for both.
   */
  tapCpus: TapCpus | null;
}

export interface WireCpus {
  js: number;
  device: number;
}

export interface TapCpus {
  js: number;
  tx: number;
  rx: number;
}

export const DEFAULT_CONFIG: PpsConfig = {
  frames: 1_000_000,
  window: 512,
  warmup: 20_000,
  queueSize: 1024,
  batch: 64,
  pollUs: null,
  wireCpus: null,
  tapCpus: null,
};

export interface CondisRep {
  txPps: number;
  rxPps: number;
  lost: number;
  received: number;
  frames: number;
  seconds: number;
  txFailed: number;
  foreign: number;
  stalls: number;
  interrupts: { tx: number; rx: number };
  device: { tx: Record<string, number>; rx: Record<string, number> };
  cpuMs: Record<string, number>;
}

export interface CRep {
  txPps: number;
  rxPps: number;
  lost: number;
  received: number;
  frames: number;
  seconds: number;
  stalls: number;
}

export type Rep = CondisRep | CRep;

/** One path's medians over its repetitions (and the repetitions, rounded). */
export interface PathResult {
  path: PathName;
  txPps: number;
  rxPps: number;
  lost: number;
  reps: Rep[];
}

/** Ratios of condis' rx pps to each C path's (medians); null when a side is missing or 0. */
export interface PpsRatios {
  'condis/c-per-frame': number | null;
  'condis/c-io_uring': number | null;
}

export interface HeapReport {
  frames: number;
  growthBytes: number | null;
  ok: boolean | null;
  limitBytes: number;
  before?: number;
  after?: number;
  gcDuringRun?: GcCounts;
  rxPps?: number;
  skipped?: string;
}

interface MoveOptions {
  frames: number;
  size: number;
  window: number;
  warmup: number;
  /** Check every received frame (TAP) instead of trusting the port's count (wire). */
  verify: boolean;
  beforeMeasure?: () => void;
  afterMeasure?: () => void;
}

/** Thrown out of a run once a signal asked the engine to stop. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

export function summarizePath(pathName: PathName, reps: readonly Rep[]): PathResult {
  return {
    path: pathName,
    txPps: round(median(reps.map((r) => r.txPps)), 1)!,
    rxPps: round(median(reps.map((r) => r.rxPps)), 1)!,
    lost: Math.round(median(reps.map((r) => r.lost))),
    reps: reps.map((r) => ({
      ...r,
      txPps: round(r.txPps, 1)!,
      rxPps: round(r.rxPps, 1)!,
      seconds: round(r.seconds, 6)!,
    })),
  };
}

export function ratiosOf(results: readonly PathResult[]): PpsRatios {
  const rx = (p: PathName) => results.find((x) => x.path === p)?.rxPps;
  return {
    'condis/c-per-frame': round(ratio(rx('condis'), rx('c-per-frame')), 3),
    'condis/c-io_uring': round(ratio(rx('condis'), rx('c-io_uring')), 3),
  };
}

/** Names for the TAP loop's two interfaces, unique per process (IFNAMSIZ: 15 characters). */
export function tapLoopNames(): [string, string] {
  return [`ctpA${process.pid}`.slice(0, 15), `ctpB${process.pid}`.slice(0, 15)];
}

export class PpsEngine {
  private readonly devices = new Set<Device>();
  private child: ChildProcess | null = null;
  private loop: [string, string] | null = null;
  private runCounter = 0;
  interrupted = false;

  /**
   * @param log progress and warnings, one line each (the caller adds its prefix and newline)
   */
  constructor(
    readonly config: PpsConfig,
    private readonly log: (s: string) => void = () => {},
    readonly files: PpsFiles = ppsFiles(),
  ) {}

  deviceOptions(): DeviceOptions {
    const c = this.config;
    return {
      queuePairs: 1,
      queueSize: c.queueSize,
      batch: c.batch,
      ...(c.pollUs === null ? {} : { pollUs: c.pollUs }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // cleanup

  private track<T extends Device>(d: T): T {
    this.devices.add(d);
    return d;
  }

  private async closeDevice(d: Device): Promise<void> {
    this.devices.delete(d);
    await d.close();
  }

  /** Destroys open devices, kills cref, takes the TAP loop down. Idempotent; never throws. */
  cleanupSync(): void {
    for (const d of this.devices) d.destroy();
    this.devices.clear();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (this.loop) {
      const [a, b] = this.loop;
      this.loop = null;
      try {
        execFileSync('bash', [this.files.tapLoop, 'down', a, b], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e) {
        this.log(
          `could not remove the TAP loop (${a}, ${b}): ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`,
        );
      }
    }
  }

  /**
   * SIGINT/SIGTERM/SIGHUP: stop, clean up, exit 130/143/129; and cleanupSync on process exit.
   * Returns a function that removes the handlers.
   */
  installSignalHandlers(): () => void {
    const handlers: [NodeJS.Signals, () => void][] = [
      ['SIGINT', () => this.onSignal('SIGINT', 130)],
      ['SIGTERM', () => this.onSignal('SIGTERM', 143)],
      ['SIGHUP', () => this.onSignal('SIGHUP', 129)],
    ];
    const onExit = () => this.cleanupSync();
    for (const [s, h] of handlers) process.on(s, h);
    process.on('exit', onExit);
    return () => {
      for (const [s, h] of handlers) process.off(s, h);
      process.off('exit', onExit);
    };
  }

  private onSignal(sig: NodeJS.Signals, code: number): void {
    if (this.interrupted) return;
    void this.interrupt(sig).then(() => {
      this.cleanupSync();
      process.exit(code);
    });
  }

  /**
   * Stops the run under way: it ends with Interrupted at its next check (a phase checks every
   * 10 ms). A running cref is sent SIGTERM (SIGKILL after 1 s): a TAP cannot be deleted while
   * cref still has it attached, so the promise settles once the child is gone; then cleanupSync()
   * can take the loop down. `why` is logged ("SIGINT: stopping and cleaning up").
   */
  interrupt(why: string): Promise<void> {
    if (this.interrupted) return Promise.resolve();
    this.interrupted = true;
    this.log(`${why}: stopping and cleaning up`);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => {
        child.kill('SIGKILL');
        setTimeout(resolve, 200);
      }, 1000).unref();
    });
  }

  // -------------------------------------------------------------------------------------------
  // the TAP loop

  /** Why the TAP loop cannot run here, or null if it can. Throws on unexpected failures. */
  tapUnavailable(): string | null {
    if (process.platform !== 'linux') return `TAPs are Linux only (this is ${process.platform})`;
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      return 'not root: the TAP loop needs root (CAP_NET_ADMIN) for ip tuntap and tc (EPERM)';
    }
    try {
      const probe = openTap({ name: `ctpP${process.pid}`.slice(0, 15), queuePairs: 1, up: false });
      probe.destroy();
    } catch (e) {
      const why = tapUnavailableReason(e);
      if (why) return why;
      throw e;
    }
    return null;
  }

  loopUp(names: [string, string]): void {
    this.loop = names;
    try {
      execFileSync('bash', [this.files.tapLoop, 'up', names[0], names[1]], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (e) {
      const err = String((e as { stderr?: Buffer }).stderr ?? e).trim();
      throw new Error(`tap-loop.sh up ${names.join(' ')} failed: ${err.split('\n').pop()}`);
    }
  }

  loopDown(): void {
    if (!this.loop) return;
    const [a, b] = this.loop;
    this.loop = null;
    execFileSync('bash', [this.files.tapLoop, 'down', a, b], { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  // -------------------------------------------------------------------------------------------
  // moving frames through our rings

  /** Warm-up phase (discarded), then the measured phase, on two open devices (pair 0 of each). */
  private async moveFrames(txDev: Device, rxDev: Device, o: MoveOptions): Promise<CondisRep> {
    // A fault on either device ends the repetition with its coded error (FaultWatch), in either
    // phase or between them.
    const faults = new FaultWatch([txDev, rxDev]);
    try {
      const tx = new FramePort(txDev, 0);
      const rx = new FramePort(rxDev, 0);
      rx.postRx();
      tx.postRx(); // whatever reaches the sender's device is harvested and dropped
      const nonce = (process.pid << 12) ^ (Date.now() & 0xfff);
      const stop = () => this.interrupted;
      if (o.warmup > 0) {
        await runPhase(
          txDev,
          rxDev,
          tx,
          rx,
          o.warmup,
          o.size,
          o.window,
          (nonce + ++this.runCounter) >>> 0,
          o.verify,
          stop,
          faults,
        );
      }
      if (this.interrupted) throw new Interrupted();
      const s0 = [txDev.stats(), rxDev.stats()] as const;
      o.beforeMeasure?.();
      const c0 = threadTimes();
      const r = await runPhase(
        txDev,
        rxDev,
        tx,
        rx,
        o.frames,
        o.size,
        o.window,
        (nonce + ++this.runCounter) >>> 0,
        o.verify,
        stop,
        faults,
      );
      const c1 = threadTimes();
      o.afterMeasure?.();
      const s1 = [txDev.stats(), rxDev.stats()] as const;
      const delta = (a: Record<string, unknown>, b: Record<string, unknown>) => {
        const out: Record<string, number> = {};
        for (const k of ['kicks', 'wakeups', 'batches', 'irqRaised', 'irqCoalesced', 'rxDeferred']) {
          out[k] = Number(b[k]) - Number(a[k]);
        }
        return out;
      };
      const cpu = cpuBetween(c0, c1, (name) => name.startsWith('condis'));
      const cpuMs: Record<string, number> = { js: cpu.js.userMs + cpu.js.sysMs };
      for (const [k, t] of Object.entries(cpu.named)) cpuMs[k] = t.userMs + t.sysMs;
      if (this.interrupted) throw new Interrupted();
      return {
        txPps: r.txPps,
        rxPps: r.rxPps,
        lost: r.lost,
        received: r.received,
        frames: r.frames,
        seconds: r.seconds,
        txFailed: r.txFailed,
        foreign: r.foreign,
        stalls: r.stalls,
        interrupts: r.interrupts,
        device: {
          tx: delta(s0[0] as unknown as Record<string, unknown>, s1[0] as unknown as Record<string, unknown>),
          rx: delta(s0[1] as unknown as Record<string, unknown>, s1[1] as unknown as Record<string, unknown>),
        },
        cpuMs,
      };
    } finally {
      faults.dispose();
    }
  }

  /** One condis repetition over the TAP loop (which must be up): devices opened and closed here. */
  async condisTap(names: [string, string], size: number): Promise<CondisRep> {
    if (this.interrupted) throw new Interrupted();
    const pin = this.config.tapCpus;
    const a = this.track(
      openTap({ ...this.deviceOptions(), name: names[0], ...(pin ? { cpus: [pin.tx] } : {}) }),
    );
    let b: Device;
    try {
      b = this.track(
        openTap({ ...this.deviceOptions(), name: names[1], ...(pin ? { cpus: [pin.rx] } : {}) }),
      );
    } catch (e) {
      await this.closeDevice(a);
      throw e;
    }
    if (pin) setThreadCpus([pin.js]);
    try {
      return await this.moveFrames(a, b, {
        frames: this.config.frames,
        size,
        window: this.config.window,
        warmup: this.config.warmup,
        verify: true,
      });
    } finally {
      if (pin) setThreadCpus(null);
      await this.closeDevice(a);
      await this.closeDevice(b);
    }
  }

  /** One condis repetition on the in-process wire. */
  async condisWire(
    frames: number,
    size = 64,
    hooks: Partial<Pick<MoveOptions, 'warmup' | 'beforeMeasure' | 'afterMeasure'>> = {},
  ): Promise<CondisRep> {
    if (this.interrupted) throw new Interrupted();
    const pin = this.config.wireCpus;
    const [a, b] = openWirePair({ ...this.deviceOptions(), ...(pin ? { cpus: [pin.device] } : {}) });
    this.track(a);
    this.track(b);
    if (pin) setThreadCpus([pin.js]);
    try {
      // No window: the wire never drops, a full receive ring holds the sender back. Nothing but
      // our frames can arrive, so the port's count is trusted (no per-frame look).
      return await this.moveFrames(a, b, {
        frames,
        size,
        window: 0,
        warmup: this.config.warmup,
        verify: false,
        ...hooks,
      });
    } finally {
      if (pin) setThreadCpus(null);
      await this.closeDevice(a);
      await this.closeDevice(b);
    }
  }

  // -------------------------------------------------------------------------------------------
  // the C reference (built beforehand: ensureCref in ./files)

  runCref(p: CPath, names: [string, string], size: number): Promise<CRep> {
    if (this.interrupted) return Promise.reject(new Interrupted());
    const c = this.config;
    const mode = p === 'c-per-frame' ? 'per-frame' : crefUringMode();
    const args = [
      '--mode',
      mode,
      '--tx',
      names[0],
      '--rx',
      names[1],
      '--size',
      String(size),
      '--frames',
      String(c.frames),
      '--window',
      String(Math.max(c.window, c.batch)),
      '--batch',
      String(c.batch),
      '--warmup',
      String(c.warmup),
      ...(c.tapCpus ? ['--cpus', `${c.tapCpus.tx},${c.tapCpus.rx}`] : []),
    ];
    return new Promise((resolve, reject) => {
      const child = spawn(this.files.cref, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('error', reject);
      child.on('close', (code, sig) => {
        this.child = null;
        if (this.interrupted) return reject(new Interrupted());
        const line = out.trim().split('\n').pop() ?? '';
        // 0 = ok, 3 = ran but received nothing (still a result: everything lost).
        if ((code === 0 || code === 3) && line.startsWith('{')) {
          const j = JSON.parse(line) as {
            txPps: number;
            rxPps: number;
            lost: number;
            received: number;
            frames: number;
            seconds: number;
          };
          const stalls = /window stalls (\d+)/.exec(
            err
              .split('\n')
              .filter((l) => l.includes(' run: '))
              .join('\n'),
          );
          resolve({ ...j, stalls: stalls ? Number(stalls[1]) : 0 });
          return;
        }
        reject(
          new Error(
            `cref --mode ${mode} failed (${sig ?? `exit ${code}`}): ${err.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
      });
    });
  }

  // -------------------------------------------------------------------------------------------
  // whole measurements

  /**
   * `reps` repetitions of each path at one frame size over the TAP loop (which must be up), the
   * order rotated each repetition so no path always goes first. Returns the paths' medians.
   */
  async runTapSize(
    names: [string, string],
    size: number,
    paths: readonly PathName[],
    reps: number,
    onRep: (p: PathName, rep: number, r: Rep) => void = () => {},
  ): Promise<PathResult[]> {
    const all: Record<PathName, Rep[]> = { condis: [], 'c-per-frame': [], 'c-io_uring': [] };
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < paths.length; k++) {
        const p = paths[(r + k) % paths.length]!;
        const rep = p === 'condis' ? await this.condisTap(names, size) : await this.runCref(p, names, size);
        all[p].push(rep);
        onRep(p, r, rep);
      }
    }
    return paths.map((p) => summarizePath(p, all[p]));
  }

  /** `reps` repetitions of condis on the wire; the medians. */
  async runWire(
    frames: number,
    size: number,
    reps: number,
    onRep: (rep: number, r: Rep) => void = () => {},
  ): Promise<PathResult> {
    const all: Rep[] = [];
    for (let r = 0; r < reps; r++) {
      const rep = await this.condisWire(frames, size);
      all.push(rep);
      onRep(r, rep);
    }
    return summarizePath('condis', all);
  }

  /** The wire for `frames` frames, JS heapUsed after a full GC before and after. */
  async heapCheck(frames: number, limitBytes = 1_000_000): Promise<HeapReport> {
    const gc = getGc();
    if (!gc) {
      return {
        frames,
        growthBytes: null,
        ok: null,
        limitBytes,
        skipped: 'no way to force a GC here (start node with --expose-gc)',
      };
    }
    this.log(`heap: ${fmtInt(frames)} frames on the wire, full GC before and after`);
    let before = 0;
    let after = 0;
    const counter = new GcCounter();
    let counted: Promise<GcCounts> | null = null;
    const rep = await this.condisWire(frames, 64, {
      warmup: Math.max(this.config.warmup, 100_000), // every path optimized before the baseline
      beforeMeasure: () => {
        fullGc(gc);
        before = heapSample().heapUsed;
        counter.start();
      },
      afterMeasure: () => {
        counted = counter.stop();
        fullGc(gc);
        after = heapSample().heapUsed;
      },
    });
    const growth = after - before;
    this.log(`heap: growth ${fmtBytes(growth)} over ${fmtInt(rep.received)} frames`);
    return {
      frames,
      growthBytes: growth,
      ok: growth < limitBytes && rep.received === frames,
      limitBytes,
      before,
      after,
      gcDuringRun: await counted!,
      rxPps: round(rep.rxPps, 1)!,
    };
  }
}
