/**
 * `condis bench drain`: checks its options (declared in commands.ts), calls the drain benchmark (lib/scenarios/drain-bench.ts,
 * where the rig, the measured loop and the arithmetic live) and renders its report: the table,
 * the targets, the kernel's side, and the --json, --svg and --pcap files. Ctrl-C stops the run
 * after the iteration under way (an AbortSignal) and exits 130.
 */

import * as fs from 'node:fs';
import { machineLine } from '../bench/machine';
import { ProgressBar } from '../bench/progress';
import { lineChartSvg, type Series } from '../bench/svg-chart';
import { formatTable } from '../bench/table';
import { PcapWriter } from '../pcap/writer';
import { type ColdDrainRow, runColdDrain } from '../scenarios/cold-drain';
import {
  type DrainBenchReport,
  type DrainBenchRow,
  MAX_DEPTH,
  runDrainBench,
} from '../scenarios/drain-bench';
import { choice, intFlag, UsageError, type Values } from './usage';

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

/**
 * Runs the benchmark with its options, parsed and its files checked (main.ts, commands.ts). The
 * pcap file is opened before runDrainBench starts anything (the kernel comparison's helper
 * process, the devices), so that a file it cannot open fails the command at once.
 */
export async function benchDrain(f: Values): Promise<number> {
  const backend = choice('backend', f.backend, ['tap', 'wire'] as const, 'wire');
  const depths = parseDepths(f.depths);
  const iterations = intFlag('iterations', f.iterations, 200, 1, 1_000_000);
  const warmup = intFlag('warmup', f.warmup, 500, 0, 1_000_000);
  const coldSamples = intFlag('cold', f.cold, 0, 0, 1000);

  const pcap = typeof f.pcap === 'string' ? new PcapWriter(f.pcap) : null;
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  // Made at the first iteration: the total depends on whether the kernel comparison runs.
  const progress: { bar: ProgressBar | null } = { bar: null };
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    const report = await runDrainBench({
      backend,
      depths,
      iterations,
      warmup,
      kernel: !f['no-kernel'],
      attribute: f.attribute === true,
      verifier: process.env.CONDIS_VERIFIER === 'off' ? 'off' : 'throw',
      signal: ac.signal,
      ...(pcap ? { capture: pcap } : {}),
      onProgress: (done, total, label) => {
        progress.bar ??= new ProgressBar(total);
        progress.bar.update(done, label);
      },
    });
    progress.bar?.done();
    // Cold deactivations: a fresh process per sample, after the warm run (never at once: they
    // would compete for the CPUs), at the same depths up to 16 (a cold drain is about the first
    // deactivation a user meets, not a queue of thousands).
    let cold: ColdDrainRow[] = [];
    let warmed: ColdDrainRow[] = [];
    if (coldSamples > 0 && !report.interrupted) {
      const coldDepths = depths.filter((d) => d <= 16);
      const bar = new ProgressBar(2 * coldDepths.length * coldSamples);
      const base = { backend, depths: coldDepths, samples: coldSamples, signal: ac.signal };
      cold = await runColdDrain({ ...base, onProgress: (done, _t, label) => bar.update(done, label) });
      const half = coldDepths.length * coldSamples;
      warmed = await runColdDrain({
        ...base,
        warmUp: COLD_WARM_UP,
        onProgress: (done, _t, label) => bar.update(half + done, label),
      });
      bar.done();
    }
    render(report, out, cold, warmed);
    if (typeof f.json === 'string') {
      const json = { ...jsonOf(report), cold, coldAfterWarmUp: warmed };
      fs.writeFileSync(f.json, `${JSON.stringify(json, null, 2)}\n`);
    }
    if (typeof f.svg === 'string') {
      fs.writeFileSync(f.svg, chart(report.rows, backend, report.machine.loadAvg));
    }
    if (pcap) out(`pcap: ${pcap.frames} frames -> ${pcap.file}`);
    return report.interrupted ? 130 : 0;
  } finally {
    progress.bar?.done(); // a failure's message on a line of its own
    process.off('SIGINT', onSigint);
    pcap?.close();
  }
}

/** The --json file: the report without what only the command's exit status says. */
function jsonOf(r: DrainBenchReport): Omit<DrainBenchReport, 'interrupted' | 'kernelCompared'> {
  const { interrupted: _i, kernelCompared: _k, ...json } = r;
  return json;
}

/** warmUp()'s deactivations in the "cold after warmUp()" processes (its default). */
const COLD_WARM_UP = 300;

function render(
  report: DrainBenchReport,
  out: (s: string) => void,
  cold: readonly ColdDrainRow[],
  warmed: readonly ColdDrainRow[],
): void {
  const { machine, rows } = report;
  out(`condis bench drain: backend ${report.note}`);
  out(
    `machine: ${machineLine(machine)}; load average ${machine.loadAvg.join(' ')} before, ${report.loadAvgAfter.join(' ')} after`,
  );
  if (!report.kernelCompared) out(report.kernelNote);
  out('');
  out(renderTable(rows));
  if (rows.some((r) => r.tail)) {
    out('');
    out(
      'the slowest 1% of each depth, and what it spent waiting for a CPU (run queue: our threads runnable, not running):',
    );
  }
  for (const r of rows) {
    const t = r.tail;
    if (!t) continue;
    out(
      `  depth ${r.depth}: ${t.iterations} iteration${t.iterations === 1 ? '' : 's'}, drain ${t.drainUs} us (median ${t.medianUs}); ` +
        `run-queue wait ${t.runQueueUs} us; meanwhile V8/libuv threads ran ${t.otherThreadsUs} us, other processes ~${t.otherProcessesUs} us, steal ${t.stealUs} us`,
    );
  }
  const coldTable = (rows: readonly ColdDrainRow[]) =>
    formatTable(
      ['depth', 'drain p50', 'p90', 'max', 'ovh p50', 'p90', 'max', 'run-queue p50', 'V8 threads p50'],
      rows.map((c) => [
        String(c.depth),
        c.drainUs.p50.toFixed(1),
        c.drainUs.p90.toFixed(1),
        c.drainUs.max.toFixed(1),
        c.overheadUs.p50.toFixed(1),
        c.overheadUs.p90.toFixed(1),
        c.overheadUs.max.toFixed(1),
        c.runQueueUs.toFixed(1),
        c.otherThreadsUs.toFixed(1),
      ]),
    );
  if (cold.length > 0) {
    out('');
    out(
      `cold: the first deactivation of a fresh process (${cold[0]!.samples} processes per depth), in us; run-queue: our threads runnable, not running; V8 threads: the CPU they took meanwhile`,
    );
    out(coldTable(cold));
  }
  if (warmed.length > 0) {
    out('');
    out(
      `cold after warmUp(): the same, each process having called warmUp() (${COLD_WARM_UP} deactivations on private wire pairs, then a settle) first`,
    );
    out(coldTable(warmed));
  }
  out('');
  for (const t of report.targets) out(`${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.measured}`);
  if (report.kernelCompared) {
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
}

function renderTable(rows: readonly DrainBenchRow[]): string {
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

function chart(rows: readonly DrainBenchRow[], backend: string, load: [number, number, number]): string {
  const pts = (pick: (r: DrainBenchRow) => number | undefined) =>
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
