/**
 * `condis bench calls`: checks its options (declared in commands.ts), runs the calls benchmark
 * (lib/scenarios/calls-bench.ts) and renders its report: a table with the load average beside it,
 * the limit of concurrent calls and its cause, the hosts/wire ratios, and --json FILE.
 * SIGINT/SIGTERM/SIGHUP stop the run; the cluster, its node processes and the wire nodes are
 * removed (lib/cluster teardown) before the command exits 130/143/129.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { busyWarning, machineLine } from '../bench/machine';
import { ProgressBar, progressLines } from '../bench/progress';
import { fmtInt, fmtRatio, formatTable } from '../bench/table';
import { checkId } from '../cluster/plan';
import { CALL_PATHS, type CallsBenchReport, CallsInterrupted, runCallsBench } from '../scenarios/calls-bench';
import { Interrupts } from './interrupts';
import { choiceList, intFlag, UsageError, type Values } from './usage';

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '-');

export function renderCallsTable(r: CallsBenchReport): string {
  const rows = r.results.map((x) => [
    x.path,
    ms(x.setupMs.p50),
    ms(x.setupMs.p99),
    ms(x.setupMs.p999),
    ms(x.setupMs.max),
    ms(x.closeMs.p50),
    ms(x.closeMs.p99),
    ms(x.closeMs.p999),
    ms(x.closeMs.max),
    ms(x.cycleMs.p50),
    fmtInt(x.callsPerSec),
    fmtInt(x.callsPerSecConcurrent),
    String(x.maxConcurrent),
  ]);
  return formatTable(
    [
      'path',
      'setup p50',
      'p99',
      'p99.9',
      'max',
      'close p50',
      'p99',
      'p99.9',
      'max',
      'cycle p50',
      'calls/s',
      `calls/s x${r.concurrency}`,
      'max calls',
    ],
    rows,
  );
}

export async function benchCalls(f: Values): Promise<number> {
  const calls = intFlag('calls', f.calls, 200, 1, 1_000_000);
  const warmup = intFlag('warmup', f.warmup, 50, 0, 1_000_000);
  const queuePairs = intFlag('queue-pairs', f['queue-pairs'], 64, 2, 64);
  // Each caller holds a pair while its call is up: the default leaves one free.
  const concurrency = intFlag('concurrency', f.concurrency, Math.min(4, queuePairs - 1), 1, 32);
  if (concurrency >= queuePairs)
    throw new UsageError(`--concurrency must be below --queue-pairs (${queuePairs}): each call holds a pair`);
  const paths = choiceList('paths', f.paths, CALL_PATHS, 'path');
  let id = `cb${process.pid}`;
  if (typeof f.id === 'string') {
    try {
      id = checkId(f.id);
    } catch (e) {
      throw new UsageError(`--id: ${(e as Error).message}`);
    }
  }
  const json = typeof f.json === 'string' ? f.json : null;

  const interrupts = new Interrupts();
  const bar = new ProgressBar(1, process.stderr as NodeJS.WriteStream);
  let report: CallsBenchReport;
  try {
    report = await runCallsBench({
      paths,
      calls,
      warmup,
      concurrency,
      queuePairs,
      id,
      signal: interrupts.signal,
      ...progressLines('condis bench calls', bar),
    });
  } catch (e) {
    if (e instanceof CallsInterrupted) {
      process.stderr.write(
        'condis bench calls: interrupted; cluster, node processes and wire nodes removed\n',
      );
      return interrupts.exitCode;
    }
    throw e;
  } finally {
    bar.done();
    interrupts.dispose();
  }
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(
    `condis bench calls: signalling calls between two nodes, ${calls} make/close cycles after ${warmup} warm-up, ` +
      `${concurrency} concurrent callers, ${queuePairs} queue pairs a node`,
  );
  out(
    '  hosts: two node processes on a cluster of 2 hosts (namespaces, bridge + VXLAN over a veth underlay)',
  );
  out('  wire:  the same node stack twice in this process, over the in-process wire');
  out(
    `machine: ${machineLine(report.machine)}; load average ${report.load.start} at start, ${report.load.end} at the end`,
  );
  const busy = busyWarning(report.machine);
  if (busy) out(`note: ${busy}`);
  out('');
  out(
    'setup: NdisClMakeCall to its completion, close: NdisClCloseCall (RELEASE + drain) to its completion, both',
  );
  out(
    'inside the node; cycle: one make + close as the benchmark sees it (hosts: + 2 control-socket round trips); ms',
  );
  out(renderCallsTable(report));
  for (const s of report.skipped) out(`skipped ${s.path}: ${s.reason}`);
  out('');
  for (const x of report.results) {
    const pairsNote =
      x.limitCause === 'RESOURCES'
        ? `no free queue pair: the device has ${x.queuePairs}, pair 0 carries signalling, each call's VC binds one of the other ${x.queuePairs - 1}`
        : x.limitMessage;
    out(`max calls (${x.path}): ${x.maxConcurrent}, the next failed with ${x.limitCause}: ${pairsNote}`);
    if (x.vidRetries > 0)
      out(
        `VID retries (${x.path}): ${x.vidRetries} SETUPs repeated on the next VID (the callee's end still closing)`,
      );
    if (x.verifierViolations > 0) out(`verifier (${x.path}): ${x.verifierViolations} violation(s)`);
  }
  const r = report.ratios;
  if (report.results.length === 2) {
    out('');
    out(
      `hosts/wire: setup p50 ${fmtRatio(r.setupP50HostsOverWire)}, p99 ${fmtRatio(r.setupP99HostsOverWire)}; ` +
        `close p50 ${fmtRatio(r.closeP50HostsOverWire)}, p99 ${fmtRatio(r.closeP99HostsOverWire)}; ` +
        `calls/s ${fmtRatio(r.callsPerSecHostsOverWire)}, with ${concurrency} callers ${fmtRatio(r.callsPerSecConcurrentHostsOverWire)}`,
    );
  }
  if (json) {
    fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
    out(`JSON report: ${path.resolve(json)}`);
  }
  // Every path asked for was skipped (--paths hosts without root): nothing was measured, which a
  // script must not mistake for a result.
  if (report.results.length === 0) {
    process.stderr.write('condis bench calls: nothing measured: every path asked for was skipped\n');
    return 1;
  }
  return 0;
}
