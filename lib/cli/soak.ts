/**
 * `condis soak`: checks its options (declared in commands.ts), calls lib/scenarios/soak.ts, renders its report. Exit status 0 when the
 * run ended with no violation, 1 otherwise (the seed to replay is printed), 130 after Ctrl-C.
 */
import * as fs from 'node:fs';
import { fmtInt, formatTable } from '../bench/table';
import type { ProcessSample } from '../scenarios/process-sample';
import { SOAK_OPS, type SoakReport, soak } from '../scenarios/soak';
import { choice, intFlag, UsageError, type Values } from './usage';

const MiB = 1024 * 1024;

/** Runs the soak with its options, parsed and its files checked (main.ts, commands.ts). */
export async function soakCommand(f: Values): Promise<number> {
  const backend = choice('backend', f.backend, ['wire', 'tap'] as const, 'wire');
  const seconds = intFlag('seconds', f.seconds, 30, 1, 86_400);
  const vcs = intFlag('vcs', f.vcs, 4, 1, 16);
  const seed = f.seed === undefined ? undefined : intFlag('seed', f.seed, 0, 0, 0xffffffff);
  const queueSize = intFlag('queue-size', f['queue-size'], 256, 16, 4096);
  if ((queueSize & (queueSize - 1)) !== 0) throw new UsageError('--queue-size must be a power of two');
  const deadlineMs = intFlag('deadline-ms', f['deadline-ms'], 2000, 100, 60_000);
  const progressS = intFlag('progress', f.progress, 10, 0, 86_400);
  const out = (s: string) => process.stdout.write(`${s}\n`);

  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.on('SIGINT', onSigint);
  let report: SoakReport;
  try {
    const replay = (s: number) =>
      `condis soak --backend ${backend} --seconds ${seconds} --vcs ${vcs} --queue-size ${queueSize} --deadline-ms ${deadlineMs} --seed ${s}`;
    let announced = false;
    report = await soak({
      backend,
      seconds,
      vcs,
      queueSize,
      deadlineMs,
      signal: ac.signal,
      ...(seed !== undefined ? { seed } : {}),
      ...(progressS > 0
        ? {
            progressEveryMs: progressS * 1000,
            onProgress: (p) =>
              out(
                `  ${String(p.elapsedS).padStart(5)} s  ops ${fmtInt(p.ops)}  sends ${fmtInt(p.sends)}  receives ${fmtInt(p.receives)}  deactivations ${fmtInt(p.deactivations)}  violations ${p.violations}  rss ${(p.rssBytes / MiB).toFixed(0)} MiB`,
              ),
          }
        : {}),
      onStart: (r) => {
        announced = true;
        out(
          `condis soak: ${r.backend}, ${vcs} VCs, ${seconds} s, seed ${r.seed} (replay: ${replay(r.seed)})`,
        );
        out(r.note);
      },
    });
    if (!announced) out(`condis soak: seed ${report.seed}`);
    render(report, out);
    if (typeof f.json === 'string') fs.writeFileSync(f.json, `${JSON.stringify(report, null, 2)}\n`);
    if (!report.passed) {
      process.stderr.write(
        `condis soak: ${report.violationCount} violation(s); replay with: ${replay(report.seed)}\n`,
      );
      return 1;
    }
    return report.interrupted ? 130 : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function render(r: SoakReport, out: (s: string) => void): void {
  out('');
  out(`churn ran ${r.seconds} s${r.interrupted ? ' (interrupted)' : ''}: ${r.violationCount} violation(s)`);
  out('');
  const rows = SOAK_OPS.map((k) => [k, fmtInt(r.ops[k].count), r.ops[k].perSecond.toFixed(1)]);
  out(formatTable(['operation', 'count', 'per s'], rows));
  out('');
  const st = Object.entries(r.sends.byStatus)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${fmtInt(n)}`)
    .join(', ');
  out(
    `sends        ${fmtInt(r.sends.completed)} of ${fmtInt(r.sends.given)} completed (${fmtInt(r.sends.perSecond)}/s): ${st}`,
  );
  out(
    `receives     ${fmtInt(r.receives.indicated)} indicated, ${fmtInt(r.receives.returned)} returned; ${fmtInt(r.receives.indicatedResources)} with RESOURCES (${fmtInt(r.receives.perSecond)}/s)`,
  );
  out(
    `peer         ${fmtInt(r.peer.sent)} frames sent, ${fmtInt(r.peer.received)} received, ${r.peer.restarts} restart(s)`,
  );
  const d = r.deactivations;
  const aborted = Object.entries(d.aborted)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  out(
    `deactivation ${fmtInt(d.count)} (${fmtInt(d.pended)} pended, ${fmtInt(d.succeeded)} drained, aborted: ${aborted || 'none'}; ${d.refused} refused)`,
  );
  out(
    `             p50 ${d.p50Ms} ms, p99 ${d.p99Ms} ms, worst ${d.worstMs} ms (drained only: p99 ${d.drainedP99Ms} ms, worst ${d.drainedWorstMs} ms; deadline ${r.deadlineMs} ms)`,
  );
  out('');
  const p = r.process;
  const cols: Array<[string, ProcessSample]> = [
    ['before', p.before],
    ['start', p.start],
    ['warm', p.warm],
    ['end', p.end],
    ['after', p.after],
  ];
  const mib = (v: number) => (v / MiB).toFixed(1);
  out(
    formatTable(
      ['process', ...cols.map((c) => c[0])],
      [
        ['rss MiB', ...cols.map((c) => mib(c[1].rssBytes))],
        ['heap MiB', ...cols.map((c) => mib(c[1].heapUsedBytes))],
        ['external MiB', ...cols.map((c) => mib(c[1].externalBytes))],
        ['fds', ...cols.map((c) => String(c[1].fds))],
        ['threads', ...cols.map((c) => String(c[1].threads))],
      ],
    ),
  );
  out('');
  if (r.violationCount === 0) {
    out('violations: none');
    return;
  }
  const by = Object.entries(r.violationsByCheck)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  out(`violations: ${r.violationCount} (${by}); the first ones:`);
  for (const v of r.violations.slice(0, 20)) {
    out(
      `  ${(v.atMs / 1000).toFixed(3).padStart(9)} s  ${v.check}${v.code ? ` ${v.code}` : ''}${v.vc !== undefined ? ` vc ${v.vc}` : ''}: ${v.message}`,
    );
  }
}
