/**
 * `condis demo`: checks its options (declared in commands.ts), calls lib/scenarios/demo.ts
 * (runDemo) and renders — a line per phase as it ends, then the frames each way, the NDIS
 * sequence of both nodes' call VC and what was removed (or all of it as JSON), and the Mermaid
 * file. SIGINT, SIGTERM and SIGHUP abort the run through its AbortSignal (lib/cli/interrupts.ts):
 * runDemo removes what it created, and the exit status is 128 + the signal's number (130 for
 * Ctrl-C). Exit status 0 when the run showed what it should (demoPassed: every ping answered, no
 * frame lost, B's deactivation pended on its held receives, the release succeeded, no call VC
 * left, no verifier report); else 1.
 *
 * Layer: the CLI, the top; everything the demo does is lib/scenarios/demo*.ts.
 */
import * as fs from 'node:fs';
import {
  DEMO_STEPS,
  type DemoEvent,
  DemoInterrupted,
  type DemoReport,
  type DemoStep,
  demoPassed,
  runDemo,
} from '../scenarios/demo';
import { Interrupts } from './interrupts';
import { choice, intFlag, UsageError, type Values } from './usage';

/** What `--json` prints: the scenario's report, with the Mermaid file written instead of its text. */
export type DemoJson = Omit<DemoReport, 'diagram'> & { mermaid?: string };

/** Runs the demo with its options, parsed and its files checked (main.ts, commands.ts). */
export async function demo(f: Values): Promise<number> {
  const backend = choice('backend', f.backend, ['auto', 'hosts', 'wire'] as const, 'auto');
  const pings = intFlag('pings', f.pings, 5, 1, 1000);
  if (backend === 'hosts' && typeof f.pcap === 'string')
    throw new UsageError(
      "--pcap is for the wire backend (between hosts, capture on a host's bridge with tcpdump)",
    );
  const pauseAt =
    f['pause-at'] === undefined ? undefined : choice('pause-at', f['pause-at'], DEMO_STEPS, 'call');
  const mermaid = typeof f.mermaid === 'string' ? f.mermaid : undefined;
  const json = f.json === true;
  const say = (s: string) => (json ? undefined : process.stdout.write(`${s}\n`));

  // Without a handler SIGTERM would kill the process with its namespaces and nodes left behind.
  const interrupts = new Interrupts();
  // --pause-at (for tests of the interruption): the run waits before that step until aborted;
  // the interval keeps the event loop alive meanwhile.
  let keepAlive: NodeJS.Timeout | undefined;
  const beforeStep = (s: DemoStep): Promise<void> | undefined => {
    if (pauseAt !== s) return undefined;
    process.stderr.write(`condis demo: paused before ${s}; Ctrl-C ends the demo\n`);
    keepAlive = setInterval(() => {}, 1000);
    return new Promise<never>(() => {});
  };
  try {
    const report = await runDemo({
      backend,
      pings,
      ...(typeof f.pcap === 'string' ? { pcap: f.pcap } : {}),
      diagram: mermaid !== undefined,
      warmUp: f.cold !== true,
      signal: interrupts.signal,
      beforeStep,
      onEvent: (e) => renderEvent(e, say),
    });
    const { diagram, pcap, ...rest } = report;
    if (mermaid !== undefined) fs.writeFileSync(mermaid, diagram ?? '');
    const out: DemoJson = {
      ...rest,
      ...(mermaid !== undefined ? { mermaid } : {}),
      ...(pcap ? { pcap } : {}),
    };
    if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else renderReport(out, say);
    return demoPassed(report) ? 0 : 1;
  } catch (e) {
    if (e instanceof DemoInterrupted) {
      process.stderr.write(
        `condis demo: interrupted during ${e.step}; removed: ${e.removed.length ? e.removed.join(', ') : 'nothing'}\n`,
      );
      return interrupts.exitCode;
    }
    throw e;
  } finally {
    clearInterval(keepAlive);
    interrupts.dispose();
  }
}

/** One line (or two) per phase, as it ends. */
function renderEvent(e: DemoEvent, say: (s: string) => void): void {
  switch (e.kind) {
    case 'warmed-up':
      say(
        `warm-up     warmUp(): ${e.warmUp.deactivations} deactivations on private wire pairs in ${Math.round(e.warmUp.ms)} ms, so the drains below are not V8's first run of the path (--cold skips it)`,
      );
      break;
    case 'topology':
      say(e.note);
      break;
    case 'call':
      say(
        `call        A NdisClMakeCall to ${e.call.callee} SAP ${e.call.sap}: SETUP, CONNECT, CONNECT ACK -> ${e.call.status} in ${e.call.setupMs.toFixed(3)} ms (VID ${e.call.vid}; both call managers activated their VC)`,
      );
      break;
    case 'ping':
      say(`ping        ${e.pings.answered}/${e.pings.sent} answered by B over the VC`);
      break;
    case 'released': {
      const d = e.deactivation;
      const c = e.clearing;
      const t = e.traffic;
      say(
        `release     B holds its receives; A pings ${t.answered}/${t.sent} answered; A NdisClCloseCall: RELEASE`,
      );
      say(
        `            B NdisCmDeactivateVc on RELEASE: ${d.receivesHeld} receive(s) held, ${d.sendsInFlight} send(s) in flight -> ${d.pended ? 'pended, drained' : 'done at once'} in ${d.drainUs.toFixed(1)} µs (${d.status})`,
      );
      say(
        `            RELEASE COMPLETE; A NdisCmDeactivateVc -> ${c.pended ? 'pended, drained' : 'done at once'} in ${c.drainUs.toFixed(1)} µs; A's close: ${c.close} in ${c.closeMs.toFixed(3)} ms`,
      );
      break;
    }
    case 'cleanup-failed':
      process.stderr.write(`condis demo: cleanup of ${e.what}: ${e.error.message}\n`);
      break;
  }
}

/** The report after the phases: frames each way, both NDIS sequences, the files, what was removed. */
function renderReport(r: DemoJson, say: (s: string) => void): void {
  const { frames } = r;
  say('');
  const W = 36;
  say(`${`frames on the call's VC (VID ${r.call.vid})`.padEnd(W)}sent    received  lost`);
  const row = (label: string, v: { sent: number; received: number; lost: number }) =>
    say(`${label.padEnd(W)}${String(v.sent).padEnd(8)}${String(v.received).padEnd(10)}${v.lost}`);
  row('A -> B', frames.aToB);
  row('B -> A', frames.bToA);
  say("  (each side's miniport VC counters: sends completed, receives indicated. Beside the echoes:");
  say('  each side announces its address with one ARP, and each ping command starts with an ARP');
  say('  request and its reply)');
  const msgs = (m: Record<string, number>) =>
    Object.entries(m)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k.replace('_', ' ')}${n > 1 ? ` x${n}` : ''}`)
      .join(', ');
  say(`signalling sent: A ${msgs(r.signalling.a)}; B ${msgs(r.signalling.b)}`);
  for (const [name, s] of [
    ['A (the caller)', r.sequence.a],
    ['B (the callee)', r.sequence.b],
  ] as const) {
    say('');
    say(`NDIS sequence of ${name}, its call's VC (slot ${s.vcSlot}; data path shown only during the drain):`);
    for (const l of s.lines) say(`  ${l}`);
  }
  say('');
  say(
    `call VCs left: A ${r.callVcsLeft.a}, B ${r.callVcsLeft.b} (each keeps its signalling VC until it stops); verifier: ${r.verifierViolations} violation(s)`,
  );
  if (r.mermaid) say(`mermaid: ${r.mermaid}`);
  if (r.pcap) say(`pcap: ${r.pcap.frames} frames -> ${r.pcap.file}`);
  say(`removed: ${r.removed.length ? r.removed.join(', ') : 'nothing named (the wire is in-process)'}`);
}
