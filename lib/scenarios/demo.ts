/**
 * The demo as a library: the main job, end to end, returning a typed report. Two condis nodes —
 * each the stack of `condis node`: the NDIS runtime (recording its trace), the reference
 * miniport, the signalling call manager of lib/cm and the node's client (ARP/ICMP answerer on
 * every call) — either two processes in network namespaces joined by the kernel's bridge and
 * VXLAN (backend `hosts`, root) or twice in this process on the in-process wire (`wire`); see
 * demo-topology.ts. The demo drives both only with the node's own control requests, so each step
 * is one a user can type at a running node (`condis node call|ping|hold|close|trace ...`):
 *
 *   call     A: NdisClMakeCall -> SETUP; B's call manager offers it (ProtocolClIncomingCall),
 *            CONNECT (both call managers activate their VC: NdisCmActivateVc ->
 *            MiniportCoActivateVc), CONNECT ACK;
 *   ping     A pings B over the VC (ARP, then ICMP echo, one at a time);
 *   release  B's client holds every receive of the call (`hold`) while A pings it again: B answers
 *            each echo request and keeps the request's NBL, so B's VC has receives outstanding.
 *            A closes the call: RELEASE. B's call manager deactivates B's VC at once, under that
 *            traffic: NdisCmDeactivateVc pends until B's client gives the receives back (its close,
 *            a turn after ProtocolClIncomingCloseCall) — the drain, timed. RELEASE COMPLETE; A's
 *            VC drains; both VCs are deleted.
 *
 * The report has the pings, the frames each way, each side's deactivation (what was outstanding,
 * whether it pended, the drain in µs), the signalling messages, and the NDIS sequence of BOTH
 * sides from their traces. `condis demo` (lib/cli/demo.ts) parses, calls this and renders.
 *
 *   const report = await runDemo({ pings: 5, signal: AbortSignal.timeout(60_000) });
 *
 * Why the deactivation comes with the RELEASE: with the signalling call manager a VC is
 * deactivated by its call's clearing (spec §3.2, §3.3), not on its own: the released side (B) at
 * once, the clearing side (A) after RELEASE COMPLETE. B's is the one under traffic.
 *
 * Why held receives are the traffic, not sends in flight: between hosts the frames cross TAPs and
 * the kernel, which never push back, so a send is in a miniport only for the microseconds its
 * device takes to write it; a receive a protocol holds stays outstanding until the protocol
 * returns it, on any backend, so the drain is the same on both and the test can count on it.
 *
 * Everything created is removed at the end, on error, and when `signal` aborts (then runDemo
 * rejects with DemoInterrupted, which names the step and what was removed).
 *
 * Layer: scenarios — a user's program of the whole stack; below the CLI only.
 */

import { hostsUnavailable } from '../cluster/up';
import { CondisError } from '../errors';
import { afterPendingSignals } from '../host/namespace';
import type { TraceEvent } from '../ndis/trace';
import type { CallRow, EndedCall } from '../node/node';
import { PcapWriter } from '../pcap/writer';
import { openHostsNodes } from './demo-hosts';
import { bothSidesMermaid } from './demo-mermaid';
import { DemoRun } from './demo-run';
import { compactSequence, deactivationOutcome, keptEvents, STEP_NOTE } from './demo-sequence';
import { DEMO_SAP, type DemoBackend, type DemoEnd, type DemoNodes, openWireNodes } from './demo-topology';
import { type WarmUpReport, warmUp } from './warm-up';

export type { DemoBackend } from './demo-topology';

/** Each step of the demo, in order (the CLI's `--pause-at` names one). */
export const DEMO_STEPS = ['call', 'ping', 'release'] as const;
export type DemoStep = (typeof DEMO_STEPS)[number];

/** Echo requests A sends while B holds its receives: what is outstanding at B's deactivation. */
export const HELD_PINGS = 8;

/**
 * The run was aborted through its AbortSignal. Thrown by runDemo once everything it created is
 * removed; `name` is 'AbortError' like Node's own, `cause` the signal's reason.
 */
export class DemoInterrupted extends Error {
  override readonly name = 'AbortError';
  constructor(
    /** The step the run was in ('setup' before the first). */
    readonly step: DemoStep | 'setup',
    /** What the teardown removed, in the order it did. */
    readonly removed: readonly string[],
    cause: unknown,
  ) {
    super(`interrupted during ${step}`, { cause });
  }
}

/** What runDemo is asked for: the backend, the pings, the files, a signal, progress callbacks. */
export interface DemoOptions {
  /**
   * 'hosts': two node processes in network namespaces (root); 'wire': both nodes in this process
   * over the in-process wire (no privilege); 'auto' (default): hosts when this process may, else
   * wire (the report's note says why).
   */
  backend?: 'auto' | DemoBackend;
  /** Echo requests A sends over the call, one at a time (default 5). */
  pings?: number;
  /** Write node A's frames (signalling and the call's, both ways as A's NDIS saw them) to this pcap file (wire only). */
  pcap?: string;
  /** Render both sides' NDIS sequence as one Mermaid sequenceDiagram into `report.diagram`. */
  diagram?: boolean;
  /** Aborting ends the run: everything is removed, then runDemo rejects with DemoInterrupted. */
  signal?: AbortSignal;
  /** Called before each step; a returned promise is awaited (raced by `signal`). */
  beforeStep?: (step: DemoStep) => void | Promise<void>;
  /** Each phase as it ends (for a progress display). */
  onEvent?: (e: DemoEvent) => void;
  /**
   * Warm the deactivation path first (warmUp(): in this process for the wire, in each node
   * process, `condis node --warm-up`, for hosts), so the drains measure the path warm and not
   * V8's first run of it. Default false; `condis demo` sets it unless --cold.
   */
  warmUp?: boolean;
}

/** What happened, phase by phase, as it happens. */
export type DemoEvent =
  | { kind: 'warmed-up'; warmUp: WarmUpReport }
  | { kind: 'topology'; backend: DemoBackend; note: string }
  | { kind: 'call'; call: DemoReport['call'] }
  | { kind: 'ping'; pings: PingCount }
  | { kind: 'released'; deactivation: DemoDeactivation; clearing: DemoClearing; traffic: PingCount }
  | { kind: 'cleanup-failed'; what: string; error: Error };

/** Echo requests sent and answered in one phase. */
export interface PingCount {
  sent: number;
  answered: number;
}

/** B's deactivation, on RELEASE, with the receives its client held outstanding. */
export interface DemoDeactivation {
  /** Which node's VC (B: the released side, which deactivates at once). */
  side: 'B';
  status: string;
  /** NdisCmDeactivateVc returned PENDING (it waited for the drain). */
  pended: boolean;
  /** What was outstanding when it began: B's sends in its miniport, receives its client held. */
  sendsInFlight: number;
  receivesHeld: number;
  /** NdisCmDeactivateVc to its completion, µs (0.1 µs resolution). */
  drainUs: number;
}

/** A's deactivation, after RELEASE COMPLETE (the clearing side), and its close. */
export interface DemoClearing {
  side: 'A';
  /** NdisClCloseCall's completion at A. */
  close: string;
  /** NdisClCloseCall to its completion as A's node measured it (RELEASE, B's drain, RELEASE COMPLETE, A's drain), ms. */
  closeMs: number;
  /** How A's deactivation ended. */
  status: string;
  pended: boolean;
  drainUs: number;
}

/** The NDIS sequence of one side's call VC, compact: `# step` headers, `  Name(status) -> result` lines. */
export interface DemoSideSequence {
  /** The call VC's NDIS slot on that side. */
  vcSlot: number;
  lines: string[];
}

/** What runDemo returns: the call, pings, frames, both deactivations, both NDIS sequences. */
export interface DemoReport {
  backend: DemoBackend;
  note: string;
  topology: string;
  /** The call: who called whom, the VID it was bound to (picked by A's client), SAP, A's setup time. */
  call: { caller: string; callee: string; sap: number; vid: number; status: string; setupMs: number };
  /** paced: A's pings; underTraffic: those A sent while B held its receives. */
  pings: { paced: PingCount; underTraffic: PingCount };
  frames: {
    /** Each side's miniport counters of the call's VC: sends completed, receives indicated. */
    aToB: { sent: number; received: number; lost: number };
    bToA: { sent: number; received: number; lost: number };
  };
  deactivation: DemoDeactivation;
  clearing: DemoClearing;
  /** Signalling messages each node sent, by type (SETUP, CONNECT, CONNECT_ACK, RELEASE, ...). */
  signalling: { a: Record<string, number>; b: Record<string, number> };
  /** What warmUp() ran in this process before the demo (wire), or null. */
  warmUp: WarmUpReport | null;
  /** The NDIS sequence of each side's call VC. */
  sequence: { a: DemoSideSequence; b: DemoSideSequence };
  /** Call VCs left in each node once the call ended (every VC but the signalling VC: 0). */
  callVcsLeft: { a: number; b: number };
  verifierViolations: number;
  /** What the teardown removed. */
  removed: string[];
  /** With `options.pcap`: the file and the frames written to it. */
  pcap?: { file: string; frames: number };
  /** With `options.diagram`: both sequences as one Mermaid sequenceDiagram. */
  diagram?: string;
}

/**
 * Whether the run showed what it should: every ping answered, nothing lost, B's deactivation
 * pended on its held receives and succeeded, the call released, no call VC left, no violation.
 */
export function demoPassed(r: DemoReport): boolean {
  const p = r.pings;
  return (
    p.paced.answered === p.paced.sent &&
    p.underTraffic.answered === p.underTraffic.sent &&
    r.frames.aToB.lost === 0 &&
    r.frames.bToA.lost === 0 &&
    r.deactivation.status === 'SUCCESS' &&
    r.deactivation.pended &&
    r.clearing.close === 'SUCCESS' &&
    r.callVcsLeft.a === 0 &&
    r.callVcsLeft.b === 0 &&
    r.verifierViolations === 0
  );
}

/**
 * Runs the main job (see the file comment): two nodes, a call with SETUP/CONNECT, pings, the
 * RELEASE under traffic with B's drain; resolves with the report once everything it created is
 * removed. Rejects with DemoInterrupted when `options.signal` aborts, with a CondisError else.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const pings = options.pings ?? 5;
  if (!Number.isInteger(pings) || pings < 1 || pings > 1000)
    throw new CondisError(
      'ERR_CONDIS_INVALID_ARG',
      `runDemo: pings must be an integer from 1 to 1000 (got ${pings})`,
    );
  const backend = options.backend ?? 'auto';
  if (backend === 'hosts' && options.pcap !== undefined)
    throw new CondisError(
      'ERR_CONDIS_INVALID_ARG',
      "the pcap is for the wire backend (between hosts, capture on a host's bridge with tcpdump)",
    );
  // auto: hosts when this process may, unless a pcap is asked for (wire only).
  const no = backend === 'wire' ? null : hostsUnavailable();
  const use: DemoBackend =
    backend === 'auto' ? (no || options.pcap !== undefined ? 'wire' : 'hosts') : backend;
  const why =
    backend === 'wire'
      ? 'chosen with --backend wire'
      : backend === 'hosts'
        ? 'chosen with --backend hosts'
        : no
          ? `auto: hosts unavailable, ${no.why}`
          : use === 'wire'
            ? 'auto: a pcap is asked for, which only the wire backend writes'
            : 'auto: this process is root';
  const emit = options.onEvent ?? (() => {});
  const run = new DemoRun<DemoStep>(options.signal, (what, error) =>
    emit({ kind: 'cleanup-failed', what, error }),
  );
  try {
    const report = await demoSteps(run, options, use, why, pings, emit);
    await run.teardown();
    report.removed = run.removed;
    return report;
  } catch (e) {
    // A Ctrl-C that also killed a host command is handled only now (afterPendingSignals).
    if (backend !== 'wire') await afterPendingSignals();
    await run.teardown();
    if (options.signal?.aborted) throw new DemoInterrupted(run.step, run.removed, options.signal.reason);
    throw e;
  } finally {
    run.dispose();
  }
}

async function demoSteps(
  run: DemoRun<DemoStep>,
  options: DemoOptions,
  backend: DemoBackend,
  why: string,
  pings: number,
  emit: (e: DemoEvent) => void,
): Promise<DemoReport> {
  const guard = <T>(p: Promise<T>) => run.guard(p);
  let pcap: PcapWriter | null = null;
  if (options.pcap !== undefined) {
    const w = new PcapWriter(options.pcap);
    pcap = w;
    run.defer('', () => w.close());
  }
  let warm: WarmUpReport | null = null;
  if (options.warmUp && backend === 'wire') {
    warm = await guard(warmUp(options.signal ? { signal: options.signal } : {}));
    emit({ kind: 'warmed-up', warmUp: warm });
  }
  const nodes: DemoNodes =
    backend === 'hosts'
      ? await openHostsNodes(run, options.warmUp === true)
      : await guard(openWireNodes(run, pcap));
  const { a, b } = nodes;
  const note = `${backend} backend (${why}): ${nodes.note}`;
  emit({ kind: 'topology', backend, note });
  const both = async (step: string) => {
    await a.request({ cmd: 'mark', text: `${STEP_NOTE}${step}` });
    await b.request({ cmd: 'mark', text: `${STEP_NOTE}${step}` });
  };
  const at = async (s: DemoStep) => {
    run.step = s;
    const p = options.beforeStep?.(s);
    if (p) await guard(p);
  };

  // 1. The call: A's NdisClMakeCall; SETUP, CONNECT (each call manager activates its VC), CONNECT ACK.
  await at('call');
  await guard(both('make the call (SETUP, CONNECT, CONNECT ACK)'));
  const made = await guard(a.request({ cmd: 'call', peer: b.mac, sap: DEMO_SAP }));
  const aCall = made.call as number;
  const vid = made.vid as number;
  // B's call is connected once CONNECT ACK reached it (ProtocolClCallConnected).
  const bRow = await run.poll(
    async () =>
      (await calls(b)).find((c) => c.vid === vid && c.dir === 'in' && c.state === 'connected') ?? null,
    `B's call on VID ${vid} to connect`,
  );
  const call: DemoReport['call'] = {
    caller: a.mac,
    callee: b.mac,
    sap: DEMO_SAP,
    vid,
    status: 'SUCCESS',
    setupMs: made.setupMs as number,
  };
  emit({ kind: 'call', call });

  // 2. Pings over the VC, one at a time (A's client; B's answers).
  await at('ping');
  await guard(both('ping over the VC'));
  const r = await guard(a.request({ cmd: 'ping', call: aCall, count: pings }));
  const paced: PingCount = { sent: r.sent as number, answered: r.received as number };
  emit({ kind: 'ping', pings: paced });

  // 3. RELEASE under traffic: B holds its receives, A pings, A closes; B drains, then A.
  await at('release');
  await guard(both('release under traffic (B holds its receives; RELEASE, the drains, RELEASE COMPLETE)'));
  await guard(b.request({ cmd: 'hold', call: bRow.call }));
  const h = await guard(a.request({ cmd: 'ping', call: aCall, count: HELD_PINGS }));
  const underTraffic: PingCount = { sent: h.sent as number, answered: h.received as number };
  // NdisClCloseCall at A: RELEASE goes out; the reply comes after RELEASE COMPLETE and A's drain.
  const closed = await guard(a.request({ cmd: 'close', call: aCall }));
  const aEnded = await run.poll(async () => ended(a, vid, 'out'), "A's call to end");
  const bEnded = await run.poll(async () => ended(b, vid, 'in'), "B's call to end");
  const [aTrace, bTrace] = await guard(Promise.all([trace(a), trace(b)]));
  const aFrom = stepSeq(aTrace.events, 'release');
  const bFrom = stepSeq(bTrace.events, 'release');
  const aOut = outcome(aTrace.events, aEnded, aFrom);
  const bOut = outcome(bTrace.events, bEnded, bFrom);
  const deactivation: DemoDeactivation = {
    side: 'B',
    status: bOut.status,
    pended: bOut.pended,
    sendsInFlight: bEnded.deactivation?.sends ?? 0,
    receivesHeld: bEnded.deactivation?.receives ?? 0,
    drainUs: bEnded.deactivation?.drainUs ?? Number.NaN,
  };
  const clearing: DemoClearing = {
    side: 'A',
    close: 'SUCCESS',
    closeMs: closed.drainMs as number,
    status: aOut.status,
    pended: aOut.pended,
    drainUs: aEnded.deactivation?.drainUs ?? Number.NaN,
  };
  emit({ kind: 'released', deactivation, clearing, traffic: underTraffic });

  // B's call manager deletes its VC a turn after B's close: wait until both nodes have no call.
  const [aSt, bSt] = await run.poll(async () => {
    const s = await Promise.all([a.request({ cmd: 'status' }), b.request({ cmd: 'status' })]);
    return s[0].calls === 0 && s[1].calls === 0 ? s : null;
  }, 'both nodes to have no call');
  const frames: DemoReport['frames'] = {
    aToB: flow(aEnded.frames.sent, bEnded.frames.received),
    bToA: flow(bEnded.frames.sent, aEnded.frames.received),
  };
  const aKeep = keptEvents(aTrace.events, aEnded.slot, aFrom);
  const bKeep = keptEvents(bTrace.events, bEnded.slot, bFrom);
  const sent = (st: Record<string, unknown>) =>
    ({ ...((st.signalling as { sent: Record<string, number> }).sent ?? {}) }) as Record<string, number>;
  const report: DemoReport = {
    backend,
    note,
    topology: nodes.topology,
    call,
    pings: { paced, underTraffic },
    frames,
    deactivation,
    clearing,
    signalling: { a: sent(aSt), b: sent(bSt) },
    warmUp: warm,
    sequence: {
      a: { vcSlot: aEnded.slot, lines: compactSequence(aTrace.events, aKeep, aEnded.slot) },
      b: { vcSlot: bEnded.slot, lines: compactSequence(bTrace.events, bKeep, bEnded.slot) },
    },
    // Each node keeps its signalling VC until it stops.
    callVcsLeft: { a: (aSt.vcs as number) - 1, b: (bSt.vcs as number) - 1 },
    verifierViolations: (aSt.verifierViolations as number) + (bSt.verifierViolations as number),
    removed: [],
  };
  if (options.diagram)
    report.diagram = bothSidesMermaid([
      { events: aTrace.events, monotonicOffsetMs: aTrace.monotonicOffsetMs, keep: aKeep },
      { events: bTrace.events, monotonicOffsetMs: bTrace.monotonicOffsetMs, keep: bKeep },
    ]);
  if (pcap) {
    pcap.close();
    report.pcap = { file: pcap.file, frames: pcap.frames };
  }
  return report;
}

const flow = (sent: number, received: number) => ({ sent, received, lost: sent - received });

async function calls(end: DemoEnd): Promise<CallRow[]> {
  return (await end.request({ cmd: 'calls' })).calls as CallRow[];
}

/** The node's row of its ended call on `vid`, or null while the call is not over. */
async function ended(end: DemoEnd, vid: number, dir: 'in' | 'out'): Promise<EndedCall | null> {
  const rows = (await end.request({ cmd: 'calls' })).ended as EndedCall[];
  for (let i = rows.length - 1; i >= 0; i--)
    if (rows[i]!.vid === vid && rows[i]!.dir === dir) return rows[i]!;
  return null;
}

/** The node's whole trace, and the offset of its clock to CLOCK_MONOTONIC (both nodes' on one clock). */
async function trace(end: DemoEnd): Promise<{ events: TraceEvent[]; monotonicOffsetMs: number }> {
  const r = await end.request({ cmd: 'trace' });
  return { events: r.events as TraceEvent[], monotonicOffsetMs: r.monotonicOffsetMs as number };
}

/** The seq of the step's note in a node's trace (0 if it is not there). */
function stepSeq(events: readonly TraceEvent[], step: DemoStep): number {
  const words: Record<DemoStep, string> = { call: 'make the call', ping: 'ping', release: 'release' };
  return events.find((e) => e.kind === 'note' && e.name.startsWith(`${STEP_NOTE}${words[step]}`))?.seq ?? 0;
}

/** How the call VC's deactivation (the first at or after `fromSeq`) ended, from the node's trace. */
function outcome(
  events: readonly TraceEvent[],
  c: EndedCall,
  fromSeq: number,
): { status: string; pended: boolean } {
  const out = deactivationOutcome(events, c.slot, fromSeq);
  if (!out)
    throw new CondisError(
      'ERR_CONDIS_INTERNAL',
      `the deactivation of the call's VC (slot ${c.slot}) is not in the trace`,
    );
  return out;
}
