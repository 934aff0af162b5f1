/**
 * The pps benchmark (`npm run bench:pps -- [flags]`): frames per second through our rings, side by
 * side with the C reference (cref.c) in this folder.
 *
 *   TAP:  for each --sizes frame size, a one-way kernel loop tapA -> tapB (tap-loop.sh: tc mirred
 *         from A's ingress to B's egress), and --reps repetitions, interleaved, of
 *           condis       one FramePort on a device attached to tapA sends N frames, one on tapB's
 *                        device receives them (sends driven from the interrupt callbacks, window)
 *           c-per-frame  cref --mode per-frame: one write()/read() per frame
 *           c-io_uring   cref --mode uring-ms (else uring; engine.ts crefUringMode): io_uring
 *         A TAP without multi_queue takes one fd, so our devices are closed while cref runs and
 *         reopened for each of our repetitions.
 *   wire: the in-process wire backend alone (openWirePair), 64-byte frames.
 *   heap: the wire again for --heap-frames frames, JS heapUsed after a full GC before and after.
 *
 * The engine (phases, our TAP/wire runs, cref, the loop, cleanup on signals) is lib/bench/pps,
 * shared with `condis bench pps` (one frame size, one backend, the short JSON); this file keeps
 * the flags, the multi-size/wire/heap run and the full report.
 *
 * stdout: the table and the targets; stderr: progress. --json FILE writes the full report.
 * Exit: 0 done (targets missed are reported, and fail the exit only with --check), 1 error,
 * 2 bad flags, 130 interrupted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { busyWarning, describeMachine, machineLine } from '../../../lib/bench/machine';
import {
  ALL_PATHS,
  type HeapReport,
  Interrupted,
  type PathName,
  type PathResult,
  PpsEngine,
  type PpsRatios,
  ratiosOf,
  type TapCpus,
  tapLoopNames,
  type WireCpus,
} from '../../../lib/bench/pps/engine';
import { ensureCref, ppsFiles } from '../../../lib/bench/pps/files';
import { ratio } from '../../../lib/bench/stats';
import { fmtInt, fmtRatio, formatTable } from '../../../lib/bench/table';
import { resolveOptions } from '../../../lib/device/options';

const HELP = `usage: npm run bench:pps -- [flags]      (or, once built: node dist/scripts/bench/pps/run.js [flags])

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
  --wire-cpus J,D   wire runs: pin the JS thread to CPU J and the device threads to CPU D
                    (default none: the scheduler decides; pinned apart was not faster on the
                    2-core VM)
  --tap-cpus J,T,R  TAP runs: pin the JS thread to CPU J, the sending device's thread to T and
                    the receiving one's to R, and cref's writer to T and reader to R
                    (default none: the scheduler decides)
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
  wireCpus: WireCpus | null;
  tapCpus: TapCpus | null;
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
        'wire-cpus': { type: 'string' },
        'tap-cpus': { type: 'string' },
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
    wireCpus: parseWireCpus(v['wire-cpus']),
    tapCpus: parseTapCpus(v['tap-cpus']),
    paths: parsePaths(v.paths),
    skipTap: v['skip-tap'] === true,
    json: typeof v.json === 'string' ? v.json : null,
    check: v.check === true,
  };
}

function parseWireCpus(v: string | boolean | undefined): WireCpus | null {
  if (v === undefined || v === 'none') return null;
  const m = /^(\d+),(\d+)$/.exec(String(v));
  if (!m) throw new UsageError(`--wire-cpus must be J,D (two CPU numbers) or none, got "${String(v)}"`);
  const js = Number(m[1]);
  const device = Number(m[2]);
  if (js > 1023 || device > 1023) throw new UsageError('--wire-cpus: CPU numbers go from 0 to 1023');
  return { js, device };
}

function parseTapCpus(v: string | boolean | undefined): TapCpus | null {
  if (v === undefined || v === 'none') return null;
  const m = /^(\d+),(\d+),(\d+)$/.exec(String(v));
  if (!m) throw new UsageError(`--tap-cpus must be J,T,R (three CPU numbers) or none, got "${String(v)}"`);
  const [js, tx, rx] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (js > 1023 || tx > 1023 || rx > 1023) throw new UsageError('--tap-cpus: CPU numbers go from 0 to 1023');
  return { js, tx, rx };
}

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
// the run: the engine (lib/bench/pps) does the work and the cleanup; this file reports.

interface Run {
  backend: 'tap' | 'wire';
  frameSize: number;
  frames: number;
  results: PathResult[];
  ratios?: PpsRatios;
  skipped?: Partial<Record<PathName, string>>;
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
  const engine = new PpsEngine(
    {
      frames: o.frames,
      window: o.window,
      warmup: o.warmup,
      queueSize: o.queueSize,
      batch: o.batch,
      pollUs: o.pollUs,
      wireCpus: o.wireCpus,
      tapCpus: o.tapCpus,
    },
    progress,
  );
  try {
    resolveOptions(engine.deviceOptions()); // fail now, not after the TAP loop is up
  } catch (e) {
    process.stderr.write(`pps: the device options are not accepted: ${(e as Error).message}\n`);
    return 2;
  }
  live = engine;
  engine.installSignalHandlers();

  const machine = describeMachine();
  const notes: string[] = [];
  const busy = busyWarning(machine);
  if (busy) notes.push(busy);
  const runs: Run[] = [];
  let tapSkipped: string | null = o.skipTap ? 'skipped (--skip-tap)' : null;
  const names = tapLoopNames();

  // ---- TAP loop: condis vs cref, interleaved
  if (!tapSkipped) {
    const why = engine.tapUnavailable();
    if (why) {
      tapSkipped = why;
      process.stderr.write(`pps: skipping the TAP loop: ${why}; running the wire only\n`);
    }
  }
  if (!tapSkipped) {
    const wantC = o.paths.some((p) => p !== 'condis');
    const failed = wantC ? ensureCref(ppsFiles(), progress) : null;
    const crefMissing = failed ? `cref could not be built: ${failed.message}` : null;
    if (crefMissing) {
      notes.push(`C reference unavailable: ${crefMissing}`);
      process.stderr.write(`pps: ${crefMissing}; the TAP loop runs condis only\n`);
    }
    engine.loopUp(names);
    progress(
      `TAP loop up: ${names[0]} -> ${names[1]} (tc mirred); ${fmtInt(o.frames)} frames per run, window ${o.window}, ${o.reps} reps`,
    );
    const paths: PathName[] = crefMissing ? o.paths.filter((p) => p === 'condis') : o.paths;
    for (const size of o.sizes) {
      const results = await engine.runTapSize(names, size, paths, o.reps, (p, r, rep) =>
        progress(
          `tap ${size} B rep ${r + 1}/${o.reps} ${p.padEnd(11)} tx ${pps(rep.txPps)}, rx ${pps(rep.rxPps)}, lost ${rep.lost}`,
        ),
      );
      runs.push({
        backend: 'tap',
        frameSize: size,
        frames: o.frames,
        results,
        ratios: ratiosOf(results),
        ...(crefMissing ? { skipped: { 'c-per-frame': crefMissing, 'c-io_uring': crefMissing } } : {}),
      });
    }
    engine.loopDown();
  }

  // ---- wire alone
  if (o.wireFrames > 0) {
    progress(`wire: ${fmtInt(o.wireFrames)} frames of 64 bytes per run, ${o.reps} reps`);
    const result = await engine.runWire(o.wireFrames, 64, o.reps, (r, rep) =>
      progress(
        `wire 64 B rep ${r + 1}/${o.reps} condis      tx ${pps(rep.txPps)}, rx ${pps(rep.rxPps)}, lost ${rep.lost}`,
      ),
    );
    runs.push({ backend: 'wire', frameSize: 64, frames: o.wireFrames, results: [result] });
  }

  // ---- heap: wire, heapFrames, full GC before and after
  const HEAP_LIMIT = 1_000_000;
  let heap: HeapReport = { frames: o.heapFrames, growthBytes: null, ok: null, limitBytes: HEAP_LIMIT };
  if (o.heapFrames > 0) {
    heap = await engine.heapCheck(o.heapFrames, HEAP_LIMIT);
    if (heap.skipped) notes.push(`heap check skipped: ${heap.skipped}`);
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
    `condis: queue size ${o.queueSize}, batch ${o.batch}${o.pollUs === null ? '' : `, poll ${o.pollUs} us`}; TAP runs ${fmtInt(o.frames)} frames, window ${o.window}${o.tapCpus ? ` (JS on CPU ${o.tapCpus.js}, sender on ${o.tapCpus.tx}, receiver on ${o.tapCpus.rx}; cref's writer and reader the same)` : ' (unpinned)'}; ` +
      `wire runs ${fmtInt(o.wireFrames)} frames${o.wireCpus ? ` (JS on CPU ${o.wireCpus.js}, device threads on CPU ${o.wireCpus.device})` : ' (unpinned)'}; warmup ${fmtInt(o.warmup)}; median of ${o.reps} reps`,
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
        wireCpus: o.wireCpus,
        tapCpus: o.tapCpus,
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

let live: PpsEngine | null = null;

main(process.argv.slice(2)).then(
  (code) => {
    live?.cleanupSync();
    process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof Interrupted) return; // the signal handler exits
    live?.cleanupSync();
    // A device fault (lib/bench/faults.ts) carries its ERR_CONDIS_* code: say it.
    const code = (e as { code?: unknown } | null)?.code;
    const what = e instanceof Error ? e.message : String(e);
    process.stderr.write(`pps: error: ${typeof code === 'string' ? `${code}: ` : ''}${what}\n`);
    process.exit(1);
  },
);
