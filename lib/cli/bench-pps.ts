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
import * as path from 'node:path';
import { busyWarning, machineLine } from '../bench/machine';
import {
  DEFAULT_CONFIG,
  Interrupted,
  type PathName,
  type PathResult,
  type PpsRatios,
} from '../bench/pps/engine';
import { ProgressBar } from '../bench/progress';
import { ratio } from '../bench/stats';
import { fmtInt, fmtRatio, formatTable } from '../bench/table';
import { type PpsBenchReport, PpsUnavailable, runPpsBench } from '../scenarios/pps-bench';
import { choice, intFlag, type Values } from './usage';

/** The JSON report (--json): exactly these fields. */
export interface PpsReport {
  bench: 'pps';
  backend: 'tap' | 'wire';
  frameSize: number;
  results: { path: PathName; txPps: number; rxPps: number; lost: number }[];
  ratios: PpsRatios | Record<string, never>;
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

  // SIGINT, SIGTERM, SIGHUP: the run stops and cleans up (cref, devices, the TAP loop), then
  // the command exits 130, 143 or 129.
  const ac = new AbortController();
  let exitCode = 130;
  const signals: [NodeJS.Signals, number][] = [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ];
  const handlers = signals.map(([sig, code]): [NodeJS.Signals, () => void] => [
    sig,
    () => {
      if (ac.signal.aborted) return;
      exitCode = code;
      ac.abort(sig);
    },
  ]);
  for (const [sig, h] of handlers) process.on(sig, h);
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
      signal: ac.signal,
      log,
      onRep: (done, _total, label) => bar.update(done, label),
    });
  } catch (e) {
    if (e instanceof Interrupted) return exitCode;
    if (e instanceof PpsUnavailable) throw new Error(unavailable(e));
    throw e;
  } finally {
    bar.done();
    for (const [sig, h] of handlers) process.off(sig, h);
  }
  const { results, machine } = bench;
  const names = bench.loop;
  const ratios = bench.ratios;
  const report: PpsReport = {
    bench: 'pps',
    backend,
    frameSize: size,
    results: results.map((r) => ({ path: r.path, txPps: r.txPps, rxPps: r.rxPps, lost: r.lost })),
    ratios,
  };

  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(
    `condis bench pps: backend ${names ? `tap (${names[0]} -> tc mirred -> ${names[1]})` : 'wire (in-process)'}, ` +
      `${size}-byte frames, ${fmtInt(frames)} frames per run, median of ${reps} rep${reps === 1 ? '' : 's'}`,
  );
  out(`machine: ${machineLine(machine)}; load average ${machine.loadAvg.join(' ')} at start`);
  const busy = busyWarning(machine);
  if (busy) out(`note: ${busy}`);
  out('');
  out(renderTable(results, backend));
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
    const rx = r.reps.map((x) => x.rxPps);
    const spread =
      rx.length > 1 && r.rxPps > 0
        ? `${Math.round(((Math.max(...rx) - Math.min(...rx)) / r.rxPps) * 100)}%`
        : '-';
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
