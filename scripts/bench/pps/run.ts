/**
 * The pps benchmark (`npm run bench:pps -- [flags]`): frames per second through our rings, side by
 * side with the C reference (cref.c) in this folder.
 *
 *   TAP:  for each --sizes frame size, a one-way kernel loop tapA -> tapB (tap-loop.sh: tc mirred
 *         from A's ingress to B's egress), and --reps repetitions, interleaved, of
 *           condis       one FramePort on a device attached to tapA sends N frames, one on tapB's
 *                        device receives them (sends driven from the interrupt callbacks, window)
 *           c-per-frame  cref --mode per-frame: one write()/read() per frame
 *           c-io_uring   cref --mode uring: io_uring batches
 *         A TAP without multi_queue takes one fd, so our devices are closed while cref runs and
 *         reopened for each of our repetitions.
 *   wire: the in-process wire backend alone (openWirePair), 64-byte frames.
 *   heap: the wire again for --heap-frames frames, JS heapUsed after a full GC before and after.
 *
 * stdout: the table and the targets; stderr: progress. --json FILE writes the full report.
 * Exit: 0 done (targets missed are reported, and fail the exit only with --check), 1 error,
 * 2 bad flags, 130 interrupted.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Device,
  type DeviceOptions,
  FramePort,
  openTap,
  openWirePair,
  resolveOptions,
  tapUnavailableReason,
} from '../../../lib/device';
import { cpuBetween, threadTimes } from '../lib/cpu';
import { fullGc, GcCounter, type GcCounts, getGc, heapSample } from '../lib/heap';
import { busyWarning, describeMachine, machineLine } from '../lib/machine';
import { median, ratio, round } from '../lib/stats';
import { fmtBytes, fmtInt, fmtRatio, formatTable } from '../lib/table';

const HERE = __dirname;
const CREF = path.join(HERE, 'cref');
const CREF_SRC = path.join(HERE, 'cref.c');
const BUILD_SH = path.join(HERE, 'build.sh');
const TAP_LOOP = path.join(HERE, 'tap-loop.sh');

const HELP = `usage: npm run bench:pps -- [flags]      (or: npx tsx scripts/bench/pps/run.ts [flags])

Frames per second through condis' rings vs the C reference (cref: per-frame syscalls and
io_uring) over a one-way TAP loop tapA -> tapB (tc mirred), plus the in-process wire alone and
a JS heap check. The TAP part needs root (CAP_NET_ADMIN); without it it is skipped.

  --frames N        frames per TAP run (default 1000000)
  --wire-frames N   frames per wire run (default 5000000; 0 skips the wire runs)
  --heap-frames N   frames for the heap check on the wire (default 10000000; 0 skips it)
  --sizes LIST      TAP frame sizes in bytes, 60..1514, comma-separated (default 64,1500)
  --reps R          repetitions per path, interleaved; the median is reported (default 3)
  --window W        max frames the sender may be ahead of the receiver, TAP runs, both
                    condis and cref (default 512; the TAP's queue holds 1000)
  --warmup N        frames moved and discarded before each measured run (default 20000)
  --queue-size Q    condis descriptors per queue, power of two (default 1024)
  --batch B         frames per device service pass (condis) and per io_uring submission
                    (cref), 1..256 (default 64)
  --poll-us U       condis device threads busy-poll this long before sleeping, 0..10000
                    (default: the library's default)
  --paths LIST      TAP paths to run: condis,c-per-frame,c-io_uring (default all three)
  --skip-tap        wire and heap only
  --json FILE       also write the report as JSON
  --check           exit 1 if a target is missed
  -h, --help        this text

Numbers accept 1e6-style exponents. Ratios are condis rx pps / C rx pps (medians).
Targets: condis >= 1.0x c-per-frame and >= 0.9x c-io_uring on the TAP loop; wire >= 5 Mpps
(64-byte frames); JS heap growth < 1 MB over the heap check.`;

class UsageError extends Error {}

interface Opts {
  frames: number;
  wireFrames: number;
  heapFrames: number;
  sizes: number[];
  reps: number;
  window: number;
  warmup: number;
  queueSize: number;
  batch: number;
  pollUs: number | null;
  paths: PathName[];
  skipTap: boolean;
  json: string | null;
  check: boolean;
}

function parseFlags(argv: string[]): Opts | null {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        frames: { type: 'string' },
        'wire-frames': { type: 'string' },
        'heap-frames': { type: 'string' },
        sizes: { type: 'string' },
        reps: { type: 'string' },
        window: { type: 'string' },
        warmup: { type: 'string' },
        'queue-size': { type: 'string' },
        batch: { type: 'string' },
        'poll-us': { type: 'string' },
        paths: { type: 'string' },
        'skip-tap': { type: 'boolean' },
        json: { type: 'string' },
        check: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
  if (v.help) return null;
  const queueSize = num(v, 'queue-size', 1024, 2, 32768);
  if ((queueSize & (queueSize - 1)) !== 0)
    throw new UsageError(`--queue-size must be a power of two, got ${queueSize}`);
  const sizes = (typeof v.sizes === 'string' ? v.sizes : '64,1500').split(',').map((s) => {
    const n = parseNum('sizes', s.trim());
    if (n < 60 || n > 1514) throw new UsageError(`--sizes: ${n} is not a frame size from 60 to 1514`);
    return n;
  });
  if (new Set(sizes).size !== sizes.length) throw new UsageError('--sizes lists a size twice');
  if (typeof v.json === 'string' && v.json === '') throw new UsageError('--json needs a file name');
  return {
    frames: num(v, 'frames', 1_000_000, 1, 1e10),
    wireFrames: num(v, 'wire-frames', 5_000_000, 0, 1e11),
    heapFrames: num(v, 'heap-frames', 10_000_000, 0, 1e11),
    sizes,
    reps: num(v, 'reps', 3, 1, 1000),
    window: num(v, 'window', 512, 1, 1 << 20),
    warmup: num(v, 'warmup', 20_000, 0, 1e9),
    queueSize,
    batch: num(v, 'batch', 64, 1, 256),
    pollUs: v['poll-us'] === undefined ? null : num(v, 'poll-us', 0, 0, 10_000),
    paths: parsePaths(v.paths),
    skipTap: v['skip-tap'] === true,
    json: typeof v.json === 'string' ? v.json : null,
    check: v.check === true,
  };
}

const ALL_PATHS: readonly PathName[] = ['condis', 'c-per-frame', 'c-io_uring'];

function parsePaths(v: string | boolean | undefined): PathName[] {
  if (v === undefined) return [...ALL_PATHS];
  const list = String(v)
    .split(',')
    .map((s) => s.trim());
  for (const p of list) {
    if (!ALL_PATHS.includes(p as PathName))
      throw new UsageError(`--paths: unknown path "${p}" (${ALL_PATHS.join(', ')})`);
  }
  if (new Set(list).size !== list.length) throw new UsageError('--paths lists a path twice');
  return ALL_PATHS.filter((p) => list.includes(p));
}

function parseNum(name: string, s: string): number {
  if (!/^\d+(\.\d+)?(e\d+)?$/i.test(s)) throw new UsageError(`--${name} must be a whole number, got "${s}"`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} must be a whole number, got "${s}"`);
  return n;
}

function num(
  v: Record<string, string | boolean | undefined>,
  name: string,
  dflt: number,
  min: number,
  max: number,
): number {
  const s = v[name];
  if (s === undefined) return dflt;
  const n = parseNum(name, String(s));
  if (n < min || n > max) throw new UsageError(`--${name} must be from ${min} to ${max}, got ${n}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// cleanup: devices we opened, the cref child, the TAP loop. Runs on normal exit, errors, signals.

const live = {
  devices: new Set<Device>(),
  child: null as ChildProcess | null,
  loop: null as [string, string] | null,
  interrupted: false,
};

function track<T extends Device>(d: T): T {
  live.devices.add(d);
  return d;
}

async function closeDevice(d: Device): Promise<void> {
  live.devices.delete(d);
  await d.close();
}

function cleanupSync(): void {
  for (const d of live.devices) d.destroy();
  live.devices.clear();
  if (live.child && live.child.exitCode === null && live.child.signalCode === null)
    live.child.kill('SIGKILL');
  if (live.loop) {
    const [a, b] = live.loop;
    live.loop = null;
    try {
      execFileSync('bash', [TAP_LOOP, 'down', a, b], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      process.stderr.write(
        `pps: could not remove the TAP loop (${a}, ${b}): ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}\n`,
      );
    }
  }
}

function onSignal(sig: NodeJS.Signals, code: number): void {
  if (live.interrupted) return;
  live.interrupted = true;
  process.stderr.write(`\npps: ${sig}: stopping and cleaning up\n`);
  const child = live.child;
  const finish = () => {
    cleanupSync();
    process.exit(code);
  };
  // A TAP cannot be deleted while cref still has it attached: let the child die first.
  if (child && child.exitCode === null && child.signalCode === null) {
    child.once('exit', finish);
    child.kill('SIGTERM');
    setTimeout(() => {
      child.kill('SIGKILL');
      setTimeout(finish, 200);
    }, 1000).unref();
  } else {
    finish();
  }
}

// ---------------------------------------------------------------------------------------------
// moving frames through our rings

const QUIET_MS = 1000; // the receiver gives up after this long without one of our frames (as cref)
const STALL_MS = 100; // a window that has not moved for this long is assumed lost (as cref)
const WATCHDOG_MS = 10; // timeouts only: the data path runs from the interrupt callbacks

/** Frame: dst 02:63:74:62:00:02, src ..:01, ethertype 0x88B5, "CDIS", run id (u32 LE), pattern. */
function makeFrame(size: number, runId: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set([0x02, 0x63, 0x74, 0x62, 0x00, 0x02, 0x02, 0x63, 0x74, 0x62, 0x00, 0x01, 0x88, 0xb5]);
  f.set([0x43, 0x44, 0x49, 0x53], 14); // "CDIS" (cref's frames say "CTBR")
  new DataView(f.buffer).setUint32(18, runId >>> 0, true);
  for (let i = 22; i < size; i++) f[i] = (i * 7 + 1) & 0xff;
  return f;
}

interface PhaseResult {
  frames: number;
  txDone: number;
  txFailed: number;
  received: number;
  foreign: number;
  lost: number;
  txPps: number;
  rxPps: number;
  seconds: number;
  stalls: number;
  quietTimeout: boolean;
  interrupts: { tx: number; rx: number };
}

/**
 * Sends `n` frames of `size` bytes from `tx` to `rx` and counts those that arrive. Sending is
 * driven from both devices' interrupt callbacks (a transmit completion frees buffers, a receive
 * opens the window); a 10 ms watchdog only handles stalls and the quiet period. Per frame: no
 * allocation (sendRepeated copies nothing once every buffer carries the template).
 *
 *   txPps = frames sent successfully / (first send .. last transmit completion harvested)
 *   rxPps = frames received / (first send .. last receive harvested)
 *   lost  = n - received, after QUIET_MS without a frame
 */
function runPhase(
  txDev: Device,
  rxDev: Device,
  tx: FramePort,
  rx: FramePort,
  n: number,
  size: number,
  window: number,
  runId: number,
  verify: boolean,
): Promise<PhaseResult> {
  return new Promise((resolve) => {
    const tpl = makeFrame(size, runId);
    const id0 = runId & 0xff;
    const id1 = (runId >>> 8) & 0xff;
    const id2 = (runId >>> 16) & 0xff;
    const id3 = (runId >>> 24) & 0xff;
    const sentBase = tx.sent;
    const doneBase = tx.txDone;
    const failBase = tx.txFailed;
    let ours = 0;
    let foreign = 0;
    let forgiven = 0;
    let stalls = 0;
    let seenOurs = 0;
    let t0 = 0;
    let tTxEnd = 0;
    let tLastRx = 0;
    let lastProgress = 0;
    let lastForgive = 0;
    let finished = false;
    let irqTx = 0;
    let irqRx = 0;

    const recvBase = rx.received;
    // verify: look at every frame (ours = right size, ethertype and run id; the rest is foreign),
    // for a TAP, where the kernel could slip something in. Else count what the port received.
    rx.onFrame = !verify
      ? null
      : (b, off, len) => {
          if (
            len === size &&
            b[off + 12] === 0x88 &&
            b[off + 13] === 0xb5 &&
            b[off + 18] === id0 &&
            b[off + 19] === id1 &&
            b[off + 20] === id2 &&
            b[off + 21] === id3
          ) {
            ours++;
          } else {
            foreign++;
          }
        };

    // Frames we may still queue: what is left of n, bounded by the window (frames in flight).
    const room = (): number => {
      const queued = tx.sent - sentBase;
      let r = n - queued;
      if (window > 0) {
        const ahead = queued - (tx.txFailed - failBase) - ours - forgiven;
        if (window - ahead < r) r = window - ahead;
      }
      return r;
    };
    const send = (): void => {
      const r = room();
      if (r > 0 && tx.sendRepeated(tpl, r) > 0) tx.flush();
    };
    const step = (): void => {
      if (finished) return;
      if (!verify) ours = rx.received - recvBase;
      if (ours !== seenOurs) {
        seenOurs = ours;
        tLastRx = performance.now();
        lastProgress = tLastRx;
      }
      if (tTxEnd === 0 && tx.txDone + tx.txFailed - doneBase - failBase >= n) tTxEnd = performance.now();
      if (ours >= n && tTxEnd !== 0) finish();
      else send();
    };
    const finish = (): void => {
      finished = true;
      clearInterval(timer);
      const tEnd = performance.now();
      rx.onFrame = null;
      txDev.onInterrupt = () => tx.poll();
      rxDev.onInterrupt = () => rx.poll();
      const txOk = tx.txDone - doneBase;
      const txSecs = ((tTxEnd || tEnd) - t0) / 1000;
      const rxSecs = (tLastRx - t0) / 1000;
      resolve({
        frames: n,
        txDone: txOk,
        txFailed: tx.txFailed - failBase,
        received: ours,
        foreign,
        lost: n - ours,
        txPps: txSecs > 0 ? txOk / txSecs : 0,
        rxPps: ours > 0 && rxSecs > 0 ? ours / rxSecs : 0,
        seconds: ours > 0 ? rxSecs : txSecs,
        stalls,
        quietTimeout: ours < n,
        interrupts: { tx: irqTx, rx: irqRx },
      });
    };

    txDev.onInterrupt = () => {
      irqTx++;
      tx.poll();
      step();
    };
    rxDev.onInterrupt = () => {
      irqRx++;
      rx.poll();
      // A receive opens the window; harvest transmit completions too, so the send below has
      // buffers (as a NIC driver frees finished transmits in its xmit path).
      tx.poll();
      step();
    };
    const timer = setInterval(() => {
      if (finished) return;
      // Safety net only: an interrupt normally does all of this.
      tx.poll();
      rx.poll();
      step();
      if (finished) return;
      const now = performance.now();
      if (live.interrupted || now - lastProgress > QUIET_MS) {
        finish();
        return;
      }
      if (
        window > 0 &&
        now - lastProgress > STALL_MS &&
        now - lastForgive > STALL_MS &&
        room() <= 0 &&
        tx.sent - sentBase < n
      ) {
        // The window has not moved: assume the frames in flight were lost and open it again.
        forgiven += tx.sent - sentBase - (tx.txFailed - failBase) - ours - forgiven;
        stalls++;
        lastForgive = now;
        send();
      }
    }, WATCHDOG_MS);

    t0 = performance.now();
    lastProgress = t0;
    send();
  });
}

interface CondisRep {
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

let runCounter = 0;

/** Warm-up phase (discarded), then the measured phase, on two open devices (pair 0 of each). */
async function moveFrames(txDev: Device, rxDev: Device, o: MoveOptions): Promise<CondisRep> {
  const tx = new FramePort(txDev, 0);
  const rx = new FramePort(rxDev, 0);
  rx.postRx();
  tx.postRx(); // whatever reaches the sender's device is harvested and dropped
  const nonce = (process.pid << 12) ^ (Date.now() & 0xfff);
  if (o.warmup > 0) {
    await runPhase(txDev, rxDev, tx, rx, o.warmup, o.size, o.window, (nonce + ++runCounter) >>> 0, o.verify);
  }
  if (live.interrupted) throw new Interrupted();
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
    (nonce + ++runCounter) >>> 0,
    o.verify,
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
  if (live.interrupted) throw new Interrupted();
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
}

class Interrupted extends Error {}

function deviceOptions(o: Opts): DeviceOptions {
  return {
    queuePairs: 1,
    queueSize: o.queueSize,
    batch: o.batch,
    ...(o.pollUs === null ? {} : { pollUs: o.pollUs }),
  };
}

async function condisTap(names: [string, string], size: number, o: Opts): Promise<CondisRep> {
  const a = track(openTap({ ...deviceOptions(o), name: names[0] }));
  let b: Device;
  try {
    b = track(openTap({ ...deviceOptions(o), name: names[1] }));
  } catch (e) {
    await closeDevice(a);
    throw e;
  }
  try {
    return await moveFrames(a, b, {
      frames: o.frames,
      size,
      window: o.window,
      warmup: o.warmup,
      verify: true,
    });
  } finally {
    await closeDevice(a);
    await closeDevice(b);
  }
}

async function condisWire(frames: number, o: Opts, hooks: Partial<MoveOptions> = {}): Promise<CondisRep> {
  const [a, b] = openWirePair(deviceOptions(o));
  track(a);
  track(b);
  try {
    // No window: the wire never drops, a full receive ring holds the sender back. Nothing but
    // our frames can arrive, so the port's count is trusted (no per-frame look).
    return await moveFrames(a, b, { frames, size: 64, window: 0, warmup: o.warmup, verify: false, ...hooks });
  } finally {
    await closeDevice(a);
    await closeDevice(b);
  }
}

// ---------------------------------------------------------------------------------------------
// the C reference

type CPath = 'c-per-frame' | 'c-io_uring';

interface CRep {
  txPps: number;
  rxPps: number;
  lost: number;
  received: number;
  frames: number;
  seconds: number;
  stalls: number;
}

/** Builds cref if it is missing or older than cref.c. Returns why it is unavailable, or null. */
function ensureCref(): string | null {
  const stale = !fs.existsSync(CREF) || fs.statSync(CREF).mtimeMs < fs.statSync(CREF_SRC).mtimeMs;
  if (!stale) return null;
  process.stderr.write('pps: building the C reference (build.sh)\n');
  try {
    execFileSync('bash', [BUILD_SH], { stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (e) {
    const err = String((e as { stderr?: Buffer }).stderr ?? e)
      .trim()
      .split('\n')
      .pop();
    return `cref could not be built: ${err}`;
  }
}

function runCref(mode: 'per-frame' | 'uring', names: [string, string], size: number, o: Opts): Promise<CRep> {
  if (live.interrupted) return Promise.reject(new Interrupted());
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
    String(o.frames),
    '--window',
    String(Math.max(o.window, o.batch)),
    '--batch',
    String(o.batch),
    '--warmup',
    String(o.warmup),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(CREF, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.child = child;
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code, sig) => {
      live.child = null;
      if (live.interrupted) return reject(new Interrupted());
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

// ---------------------------------------------------------------------------------------------
// the TAP loop

/** Why the TAP part cannot run here, or null if it can. Throws on unexpected failures. */
function tapUnavailable(): string | null {
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

function loopUp(names: [string, string]): void {
  live.loop = names;
  try {
    execFileSync('bash', [TAP_LOOP, 'up', names[0], names[1]], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = String((e as { stderr?: Buffer }).stderr ?? e).trim();
    throw new Error(`tap-loop.sh up ${names.join(' ')} failed: ${err.split('\n').pop()}`);
  }
}

function loopDown(): void {
  if (!live.loop) return;
  const [a, b] = live.loop;
  live.loop = null;
  execFileSync('bash', [TAP_LOOP, 'down', a, b], { stdio: ['ignore', 'ignore', 'pipe'] });
}

// ---------------------------------------------------------------------------------------------
// report

type PathName = 'condis' | CPath;

interface PathResult {
  path: PathName;
  txPps: number;
  rxPps: number;
  lost: number;
  reps: (CondisRep | CRep)[];
}

interface Run {
  backend: 'tap' | 'wire';
  frameSize: number;
  frames: number;
  results: PathResult[];
  ratios?: { 'condis/c-per-frame': number | null; 'condis/c-io_uring': number | null };
  skipped?: Partial<Record<PathName, string>>;
}

function summarizePath(pathName: PathName, reps: (CondisRep | CRep)[]): PathResult {
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

function say(s: string): void {
  process.stdout.write(`${s}\n`);
}

function progress(s: string): void {
  process.stderr.write(`pps: ${s}\n`);
}

function pps(v: number): string {
  return `${fmtInt(v)} pps`;
}

async function main(argv: string[]): Promise<number> {
  let o: Opts | null;
  try {
    o = parseFlags(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`pps: ${e.message} (see --help)\n`);
      return 2;
    }
    throw e;
  }
  if (o === null) {
    say(HELP);
    return 0;
  }
  try {
    resolveOptions(deviceOptions(o)); // fail now, not after the TAP loop is up
  } catch (e) {
    process.stderr.write(`pps: the device options are not accepted: ${(e as Error).message}\n`);
    return 2;
  }

  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
  process.on('SIGHUP', () => onSignal('SIGHUP', 129));
  process.on('exit', cleanupSync);

  const machine = describeMachine();
  const notes: string[] = [];
  const busy = busyWarning(machine);
  if (busy) notes.push(busy);
  const runs: Run[] = [];
  let tapSkipped: string | null = o.skipTap ? 'skipped (--skip-tap)' : null;
  const names: [string, string] = [`ctpA${process.pid}`.slice(0, 15), `ctpB${process.pid}`.slice(0, 15)];

  // ---- TAP loop: condis vs cref, interleaved
  if (!tapSkipped) {
    const why = tapUnavailable();
    if (why) {
      tapSkipped = why;
      process.stderr.write(`pps: skipping the TAP loop: ${why}; running the wire only\n`);
    }
  }
  if (!tapSkipped) {
    const wantC = o.paths.some((p) => p !== 'condis');
    const crefMissing = wantC ? ensureCref() : null;
    if (crefMissing) {
      notes.push(`C reference unavailable: ${crefMissing}`);
      process.stderr.write(`pps: ${crefMissing}; the TAP loop runs condis only\n`);
    }
    loopUp(names);
    progress(
      `TAP loop up: ${names[0]} -> ${names[1]} (tc mirred); ${fmtInt(o.frames)} frames per run, window ${o.window}, ${o.reps} reps`,
    );
    const paths: PathName[] = crefMissing ? o.paths.filter((p) => p === 'condis') : o.paths;
    for (const size of o.sizes) {
      const reps: Record<PathName, (CondisRep | CRep)[]> = {
        condis: [],
        'c-per-frame': [],
        'c-io_uring': [],
      };
      for (let r = 0; r < o.reps; r++) {
        for (let k = 0; k < paths.length; k++) {
          const p = paths[(r + k) % paths.length]!; // rotate the order: no path always goes first
          const rep =
            p === 'condis'
              ? await condisTap(names, size, o)
              : await runCref(p === 'c-per-frame' ? 'per-frame' : 'uring', names, size, o);
          reps[p].push(rep);
          progress(
            `tap ${size} B rep ${r + 1}/${o.reps} ${p.padEnd(11)} tx ${pps(rep.txPps)}, rx ${pps(rep.rxPps)}, lost ${rep.lost}`,
          );
        }
      }
      const results = paths.map((p) => summarizePath(p, reps[p]));
      const rx = (p: PathName) => results.find((x) => x.path === p)?.rxPps;
      runs.push({
        backend: 'tap',
        frameSize: size,
        frames: o.frames,
        results,
        ratios: {
          'condis/c-per-frame': round(ratio(rx('condis'), rx('c-per-frame')), 3),
          'condis/c-io_uring': round(ratio(rx('condis'), rx('c-io_uring')), 3),
        },
        ...(crefMissing ? { skipped: { 'c-per-frame': crefMissing, 'c-io_uring': crefMissing } } : {}),
      });
    }
    loopDown();
  }

  // ---- wire alone
  if (o.wireFrames > 0) {
    progress(`wire: ${fmtInt(o.wireFrames)} frames of 64 bytes per run, ${o.reps} reps`);
    const wireReps: CondisRep[] = [];
    for (let r = 0; r < o.reps; r++) {
      const rep = await condisWire(o.wireFrames, o);
      wireReps.push(rep);
      progress(
        `wire 64 B rep ${r + 1}/${o.reps} condis      tx ${pps(rep.txPps)}, rx ${pps(rep.rxPps)}, lost ${rep.lost}`,
      );
    }
    runs.push({
      backend: 'wire',
      frameSize: 64,
      frames: o.wireFrames,
      results: [summarizePath('condis', wireReps)],
    });
  }

  // ---- heap: wire, heapFrames, full GC before and after
  const HEAP_LIMIT = 1_000_000;
  let heap: {
    frames: number;
    growthBytes: number | null;
    ok: boolean | null;
    limitBytes: number;
    before?: number;
    after?: number;
    gcDuringRun?: GcCounts;
    rxPps?: number;
    skipped?: string;
  } = { frames: o.heapFrames, growthBytes: null, ok: null, limitBytes: HEAP_LIMIT };
  if (o.heapFrames > 0) {
    const gc = getGc();
    if (!gc) {
      heap.skipped = 'no way to force a GC here (start node with --expose-gc)';
      notes.push(`heap check skipped: ${heap.skipped}`);
    } else {
      progress(`heap: ${fmtInt(o.heapFrames)} frames on the wire, full GC before and after`);
      let before = 0;
      let after = 0;
      const counter = new GcCounter();
      let counted: Promise<GcCounts> | null = null;
      const rep = await condisWire(o.heapFrames, o, {
        warmup: Math.max(o.warmup, 100_000), // every path optimized before the baseline
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
      heap = {
        frames: o.heapFrames,
        growthBytes: growth,
        ok: growth < HEAP_LIMIT && rep.received === o.heapFrames,
        limitBytes: HEAP_LIMIT,
        before,
        after,
        gcDuringRun: await counted!,
        rxPps: round(rep.rxPps, 1)!,
      };
      progress(`heap: growth ${fmtBytes(growth)} over ${fmtInt(rep.received)} frames`);
    }
  }

  // ---- report
  const targets: { name: string; value: number | null; want: string; ok: boolean | null }[] = [];
  for (const run of runs) {
    if (run.backend === 'tap' && run.ratios) {
      const a = run.ratios['condis/c-per-frame'];
      const b = run.ratios['condis/c-io_uring'];
      targets.push({
        name: `tap ${run.frameSize} B: condis / c-per-frame`,
        value: a,
        want: '>= 1.0x',
        ok: a === null ? null : a >= 1.0,
      });
      targets.push({
        name: `tap ${run.frameSize} B: condis / c-io_uring`,
        value: b,
        want: '>= 0.9x',
        ok: b === null ? null : b >= 0.9,
      });
    } else if (run.backend === 'wire') {
      const v = run.results[0]!.rxPps;
      targets.push({ name: 'wire 64 B: condis rx pps', value: v, want: '>= 5,000,000 pps', ok: v >= 5e6 });
    }
  }
  if (o.heapFrames > 0) {
    targets.push({
      name: `JS heap growth over ${fmtInt(o.heapFrames)} frames`,
      value: heap.growthBytes,
      want: '< 1 MB',
      ok: heap.ok,
    });
  }

  say(`pps benchmark: ${machineLine(machine)}; load average ${machine.loadAvg.join(' ')} at start`);
  say(
    `condis: queue size ${o.queueSize}, batch ${o.batch}${o.pollUs === null ? '' : `, poll ${o.pollUs} us`}; TAP runs ${fmtInt(o.frames)} frames, window ${o.window}; ` +
      `wire runs ${fmtInt(o.wireFrames)} frames; warmup ${fmtInt(o.warmup)}; median of ${o.reps} reps`,
  );
  if (tapSkipped) say(`TAP loop: ${tapSkipped}`);
  say('');
  const rows: string[][] = [];
  for (const run of runs) {
    const base = (p: PathName) => run.results.find((x) => x.path === p)?.rxPps ?? null;
    for (const r of run.results) {
      const rx = r.reps.map((x) => x.rxPps);
      const spread =
        rx.length > 1 && r.rxPps > 0
          ? `${Math.round(((Math.max(...rx) - Math.min(...rx)) / r.rxPps) * 100)}%`
          : '-';
      rows.push([
        run.backend,
        String(run.frameSize),
        r.path,
        fmtInt(r.txPps),
        fmtInt(r.rxPps),
        spread,
        fmtInt(r.lost),
        run.backend === 'tap' ? fmtRatio(ratio(r.rxPps, base('c-per-frame'))) : '-',
        run.backend === 'tap' ? fmtRatio(ratio(r.rxPps, base('c-io_uring'))) : '-',
      ]);
    }
  }
  say(
    formatTable(
      ['backend', 'size', 'path', 'tx pps', 'rx pps', 'rx spread', 'lost', 'vs c-per-frame', 'vs c-io_uring'],
      rows,
    ),
  );
  say('');
  say('targets:');
  for (const t of targets) {
    const mark = t.ok === null ? '[n/a] ' : t.ok ? '[ok]  ' : '[MISS]';
    const val =
      t.value === null
        ? 'not measured'
        : t.name.startsWith('JS heap')
          ? `${fmtInt(t.value)} B`
          : t.name.startsWith('wire')
            ? `${fmtInt(t.value)} pps`
            : fmtRatio(t.value);
    say(`  ${mark} ${t.name} ${t.want}: ${val}`);
  }
  if (heap.gcDuringRun) {
    const g = heap.gcDuringRun;
    say(
      `  heap: ${fmtInt(heap.before ?? 0)} B -> ${fmtInt(heap.after ?? 0)} B after full GC; during the run ${g.minor} scavenges, ${g.major} mark-compacts`,
    );
  }
  for (const n of notes) say(`note: ${n}`);

  if (o.json) {
    const report = {
      bench: 'pps',
      date: new Date().toISOString(),
      machine,
      config: {
        frames: o.frames,
        wireFrames: o.wireFrames,
        heapFrames: o.heapFrames,
        sizes: o.sizes,
        reps: o.reps,
        window: o.window,
        warmup: o.warmup,
        queueSize: o.queueSize,
        batch: o.batch,
        pollUs: o.pollUs,
        paths: o.paths,
        ratioOf: 'rxPps (median of reps)',
        tap: tapSkipped
          ? { skipped: tapSkipped }
          : { tx: names[0], rx: names[1], loop: 'tc mirred, tap-loop.sh' },
      },
      runs,
      heap,
      targets,
      notes,
    };
    fs.writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
    say(`\nJSON report: ${path.resolve(o.json)}`);
  }
  return o.check && targets.some((t) => t.ok === false) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    cleanupSync();
    process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof Interrupted) return; // the signal handler exits
    cleanupSync();
    process.stderr.write(`pps: error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
