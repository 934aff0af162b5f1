/**
 * `condis bench tcp`: checks its options (declared in commands.ts), runs the TCP benchmark
 * (lib/scenarios/tcp-bench.ts) and renders its report: a table with the load average beside it,
 * the ratios, --json FILE and --svg FILE. SIGINT/SIGTERM/SIGHUP stop the run; everything it made
 * (namespaces, TAPs, children) is removed before the command exits 130/143/129.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { busyWarning, machineLine } from '../bench/machine';
import { ProgressBar, progressLines } from '../bench/progress';
import { barChartSvg } from '../bench/svg-chart';
import { fmtInt, fmtRatio, formatTable } from '../bench/table';
import { runTcpBench, TCP_PATHS, type TcpBenchReport, TcpInterrupted } from '../scenarios/tcp-bench';
import { Interrupts } from './interrupts';
import { choiceList, intFlag, type Values } from './usage';

const g = (v: number | null) => (v === null ? '-' : v.toFixed(2));

export function renderTcpTable(r: TcpBenchReport): string {
  const rows = r.results.map((x) => [
    x.path,
    String(x.streams),
    g(x.gbps),
    x.gbpsReps.length > 1 ? `${g(Math.min(...x.gbpsReps))}-${g(Math.max(...x.gbpsReps))}` : '-',
    fmtInt(x.udpPps),
  ]);
  return formatTable(['path', 'streams', 'Gbit/s', 'min-max', 'UDP 64 B pps'], rows);
}

export async function benchTcp(f: Values): Promise<number> {
  const seconds = intFlag('seconds', f.seconds, 5, 1, 3600);
  const reps = intFlag('reps', f.reps, 3, 1, 100);
  const paths = choiceList('paths', f.paths, TCP_PATHS, 'path');
  const json = typeof f.json === 'string' ? f.json : null;
  const svg = typeof f.svg === 'string' ? f.svg : null;

  const interrupts = new Interrupts();
  const bar = new ProgressBar(1, process.stderr as NodeJS.WriteStream);
  const lines = progressLines('condis bench tcp', bar);
  let report: TcpBenchReport;
  try {
    report = await runTcpBench({
      paths,
      seconds,
      reps,
      signal: interrupts.signal,
      log: lines.log,
      onRep: lines.onProgress,
    });
  } catch (e) {
    if (e instanceof TcpInterrupted) {
      process.stderr.write('condis bench tcp: interrupted; namespaces, TAPs and children removed\n');
      return interrupts.exitCode;
    }
    throw e;
  } finally {
    bar.done();
    interrupts.dispose();
  }
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(
    `condis bench tcp: iperf3 between two namespaces, ${seconds} s per test, median of ${reps} interleaved reps`,
  );
  out(
    `machine: ${machineLine(report.machine)}; load average ${report.load.start} at start, ${report.load.end} at the end`,
  );
  const busy = busyWarning(report.machine);
  if (busy) out(`note: ${busy}`);
  out('');
  out(renderTcpTable(report));
  for (const s of report.skipped) out(`skipped ${s.path}: ${s.reason}`);
  for (const e of report.errors) out(`error: ${e}`);
  const r = report.ratios;
  out('');
  out(
    `ratios (single-stream Gbit/s): condis-port-offload/c-forwarder-offload ${fmtRatio(r.offloadVsC)}, ` +
      `condis-port-offload/veth ${fmtRatio(r.offloadVsVeth)}, condis-port/c-forwarder ${fmtRatio(r.noOffloadVsC)}, ` +
      `condis-ndis-offload/c-forwarder-offload ${fmtRatio(r.ndisOffloadVsC)}`,
  );
  if (json) {
    fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
    out(`JSON report: ${path.resolve(json)}`);
  }
  if (svg) {
    const names = [...new Set(report.results.map((x) => x.path))];
    const at = (p: string, s: number) =>
      report.results.find((x) => x.path === p && x.streams === s)?.gbps ?? null;
    fs.writeFileSync(
      svg,
      barChartSvg(
        names.map((p) => ({ name: p, values: [at(p, 1), at(p, 4)] })),
        {
          title: 'condis bench tcp: iperf3 TCP between two namespaces',
          subtitle: `median of ${reps} reps, ${seconds} s each; load average ${report.load.start} -> ${report.load.end}`,
          yLabel: 'Gbit/s',
          series: [
            { name: '1 stream', color: '#1f77b4' },
            { name: '4 streams', color: '#ff7f0e' },
          ],
        },
      ),
    );
    out(`SVG chart: ${path.resolve(svg)}`);
  }
  return 0;
}
