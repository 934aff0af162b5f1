/**
 * `condis bench pps`: checks its options (declared in commands.ts), calls the pps benchmark (lib/scenarios/pps-bench.ts, on the
 * engine `npm run bench:pps` uses: lib/bench/pps) and renders its report: frames per second
 * through condis' rings at one frame size.
 *
 *   --backend tap   a one-way kernel loop tapA -> tapB (tc mirred, scripts/bench/pps/tap-loop.sh)
 *                   and, in the same run, interleaved repetitions of condis and of the C reference
 *                   (cref.c, per-frame syscalls and io_uring), built on demand with build.sh; the
 *                   ratios compare rx pps. Needs root (CAP_NET_ADMIN). The default as root.
 *   --backend wire  condis alone on the in-process wire: no C reference, so no ratios. The
 *                   default without root.
 *
 * stdout: the table and the ratios; stderr: a progress bar when it is a terminal. --json FILE:
 * { bench, backend, frameSize, results: [{ path, txPps, rxPps, lost }], ratios } (medians).
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { busyWarning, machineLine } from '../bench/machine';
import {
  DEFAULT_CONFIG,
  Interrupted,
  type PathName,
  type PathResult,
  type PpsRatios,
  type TapCpus,
} from '../bench/pps/engine';
import { ProgressBar } from '../bench/progress';
import { ratio } from '../bench/stats';
import { fmtInt, fmtRatio, formatTable } from '../bench/table';
import { type PpsBenchReport, PpsUnavailable, runPpsBench } from '../scenarios/pps-bench';
import { Interrupts } from './interrupts';
import { choice, intFlag, UsageError, type Values } from './usage';

/** The JSON report (--json): exactly these fields. */
export interface PpsReport {
  bench: 'pps';
  backend: 'tap' | 'wire';
  frameSize: number;
  results: {
    path: PathName;
    txPps: number;
    rxPps: number;
    lost: number;
    spread: number | null;
    /** Each rep's rx pps, in the order they ran: what the spread and the median come from. */
    repsRxPps: number[];
  }[];
  ratios: PpsRatios | Record<string, never>;
  /** The CPUs the TAP runs were pinned to (--cpus), or null. */
  cpus: TapCpus | null;
  /** The 1-minute load average at the start and at the end. */
  loadAvg: [number, number];
  /** Why these numbers should not be quoted: reps spread over 20%, a loaded machine. */
  warnings: string[];
}

/** Reps more spread than this (max - min over the median) get a warning. */
export const SPREAD_WARN = 0.2;

/** (max - min) / median of the reps' rx pps; null with fewer than two reps. */
export function spreadOf(r: PathResult): number | null {
  const rx = r.reps.map((x) => x.rxPps);
  if (rx.length < 2 || r.rxPps <= 0) return null;
  return Math.round(((Math.max(...rx) - Math.min(...rx)) / r.rxPps) * 1000) / 1000;
}

/** Why a report's numbers should not be quoted: a path whose reps spread over 20%, a machine loaded above its cores. */
export function ppsWarnings(
  results: readonly { path: string; spread: number | null }[],
  reps: number,
  cores: number,
  loadAvg: readonly [number, number],
): string[] {
  const out: string[] = [];
  for (const r of results) {
    if (r.spread !== null && r.spread > SPREAD_WARN) {
      out.push(
        `${r.path}: its ${reps} reps spread ${Math.round(r.spread * 100)}% (over ${SPREAD_WARN * 100}%): run more reps on a quieter machine before quoting it`,
      );
    }
  }
  const peak = Math.max(loadAvg[0], loadAvg[1]);
  if (peak > cores)
    out.push(`load average ${peak} above the ${cores} cores: other work took CPU time from the run`);
  return out;
}

/** `--cpus JS,TX,RX`. */
export function parseCpus(v: string | boolean | undefined): TapCpus | null {
  if (v === undefined) return null;
  const m = /^(\d{1,4}),(\d{1,4}),(\d{1,4})$/.exec(String(v));
  if (!m) throw new UsageError(`--cpus must be JS,TX,RX (three CPU numbers), got "${String(v)}"`);
  const [js, tx, rx] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const n = os.availableParallelism();
  for (const c of [js, tx, rx]) {
    if (c >= n) throw new UsageError(`--cpus: CPU ${c} does not exist here (CPUs 0..${n - 1})`);
  }
  return { js, tx, rx };
}

/** The one-line error when the benchmark cannot start here, in the command's terms (its flags). */
function unavailable(e: PpsUnavailable): string {
  if (e.what === 'cref') {
    return `cannot build the C reference (scripts/bench/pps/build.sh): ${e.reason}; or use --backend wire`;
  }
  return isRoot()
    ? `--backend tap cannot run here: ${e.reason}; use --backend wire`
    : '--backend tap needs root (CAP_NET_ADMIN: the TAP loop is made with ip tuntap and tc); run it as root, or use --backend wire';
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Runs the benchmark with its options, parsed and its files checked (main.ts, commands.ts). */
export async function benchPps(f: Values): Promise<number> {
  const backend = choice('backend', f.backend, ['tap', 'wire'] as const, isRoot() ? 'tap' : 'wire');
  const size = intFlag('size', f.size, 64, 60, 1514);
  const frames = intFlag('frames', f.frames, backend === 'tap' ? 1_000_000 : 5_000_000, 1, 1e10);
  const reps = intFlag('reps', f.reps, 3, 1, 1000);
  const warmup = intFlag('warmup', f.warmup, DEFAULT_CONFIG.warmup, 0, 1e9);
  const json = typeof f.json === 'string' ? f.json : null;
  const cpus = parseCpus(f.cpus);
  if (cpus && backend !== 'tap') throw new UsageError('--cpus pins the TAP runs: use it with --backend tap');

  // SIGINT, SIGTERM, SIGHUP: the run stops and cleans up (cref, devices, the TAP loop), then
  // the command exits 130, 143 or 129.
  const interrupts = new Interrupts();
  const bar = new ProgressBar(reps * (backend === 'tap' ? 3 : 1), process.stderr as NodeJS.WriteStream);
  const log = (s: string) => {
    bar.done();
    process.stderr.write(`condis bench pps: ${s}\n`);
  };
  let bench: PpsBenchReport;
  try {
    bench = await runPpsBench({
      backend,
      size,
      frames,
      reps,
      warmup,
      cpus,
      signal: interrupts.signal,
      log,
      onRep: (done, _total, label) => bar.update(done, label),
    });
  } catch (e) {
    if (e instanceof Interrupted) return interrupts.exitCode;
    if (e instanceof PpsUnavailable) throw new Error(unavailable(e));
    throw e;
  } finally {
    bar.done();
    interrupts.dispose();
  }
  const { results, machine } = bench;
  const names = bench.loop;
  const ratios = bench.ratios;
  const report: PpsReport = {
    bench: 'pps',
    backend,
    frameSize: size,
    results: results.map((r) => ({
      path: r.path,
      txPps: r.txPps,
      rxPps: r.rxPps,
      lost: r.lost,
      spread: spreadOf(r),
      repsRxPps: r.reps.map((x) => Math.round(x.rxPps)),
    })),
    ratios,
    cpus: bench.cpus,
    loadAvg: [machine.loadAvg[0], bench.loadAvgAfter[0]],
    warnings: [],
  };
  report.warnings = ppsWarnings(report.results, reps, machine.cores, report.loadAvg);

  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(
    `condis bench pps: backend ${names ? `tap (${names[0]} -> tc mirred -> ${names[1]})` : 'wire (in-process)'}, ` +
      `${size}-byte frames, ${fmtInt(frames)} frames per run, median of ${reps} rep${reps === 1 ? '' : 's'}`,
  );
  out(
    `machine: ${machineLine(machine)}; load average ${machine.loadAvg.join(' ')} at start, ${bench.loadAvgAfter.join(' ')} at the end; ` +
      (cpus
        ? `pinned: JS on CPU ${cpus.js}, sender on ${cpus.tx}, receiver on ${cpus.rx} (cref's writer and reader the same)`
        : 'threads unpinned'),
  );
  const busy = busyWarning(machine);
  if (busy) out(`note: ${busy}`);
  out('');
  out(renderTable(results, backend));
  for (const w of report.warnings) out(`warning: ${w}`);
  out('');
  if (backend === 'tap') {
    const r = ratios as PpsRatios;
    out(
      `ratios (condis rx pps / C rx pps): condis/c-per-frame ${fmtRatio(r['condis/c-per-frame'])}, ` +
        `condis/c-io_uring ${fmtRatio(r['condis/c-io_uring'])}`,
    );
  } else {
    out('ratios: none (no C reference on the wire; as root, --backend tap compares with it)');
  }
  if (json) {
    fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
    out(`JSON report: ${path.resolve(json)}`);
  }
  return 0;
}

function renderTable(results: readonly PathResult[], backend: 'tap' | 'wire'): string {
  const base = (p: PathName) => results.find((x) => x.path === p)?.rxPps ?? null;
  const tap = backend === 'tap';
  const rows = results.map((r) => {
    const sp = spreadOf(r);
    const spread = sp === null ? '-' : `${Math.round(sp * 100)}%`;
    const row = [r.path, fmtInt(r.txPps), fmtInt(r.rxPps), spread, fmtInt(r.lost)];
    if (tap) {
      row.push(fmtRatio(ratio(r.rxPps, base('c-per-frame'))), fmtRatio(ratio(r.rxPps, base('c-io_uring'))));
    }
    return row;
  });
  const headers = ['path', 'tx pps', 'rx pps', 'rx spread', 'lost'];
  if (tap) headers.push('vs c-per-frame', 'vs c-io_uring');
  return formatTable(headers, rows);
}
