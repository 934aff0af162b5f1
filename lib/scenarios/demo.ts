/**
 * The demo as a library: the main job, end to end, returning a typed report. Two condis nodes —
 * each the stack of `condis node`: the NDIS runtime (recording its trace), the reference miniport,
 * the signalling call manager of lib/cm and the node's client (ARP/ICMP answerer on every call) —
 * on the two ends of the in-process wire (demo-topology.ts). Node A calls node B: NdisClMakeCall,
 * SETUP, CONNECT (both call managers activate their VC: NdisCmActivateVc -> MiniportCoActivateVc),
 * CONNECT ACK; A pings B over the VC; A closes the call with RELEASE while B has replies in
 * flight, so B's call manager deactivates B's VC under traffic and it drains (demo-traffic.ts);
 * RELEASE COMPLETE, A's VC drains and both VCs are deleted. The report has the pings, the frames
 * each way, the drain of each side's deactivation and the NDIS sequence of BOTH sides.
 * `condis demo` (lib/cli/demo.ts) parses, calls this and renders.
 *
 *   const report = await runDemo({ pings: 5, signal: AbortSignal.timeout(60_000) });
 *
 * Why the deactivation comes with the RELEASE: with the signalling call manager a VC is
 * deactivated by its call's clearing (spec §3.2, §3.3), not on its own: the released side (B)
 * at once, the clearing side (A) after RELEASE COMPLETE. B's is the one under traffic.
 *
 * The drain latency is NdisCmDeactivateVc -> ProtocolCmDeactivateVcComplete (or its synchronous
 * return), from the trace's stamps (performance.now()). Everything created is removed at the end,
 * on error, and when `signal` aborts (then runDemo rejects with DemoInterrupted, which names the
 * step and what was removed).
 *
 * Layer: scenarios — a user's program of the whole stack; below the CLI only.
 */
import { NDIS_STATUS_SUCCESS, statusName } from '../ndis/status';
import type { NodeCall } from '../node/client';
import { PcapWriter } from '../pcap/writer';
import { bothSidesMermaid } from './demo-mermaid';
import { DemoRun } from './demo-run';
import { compactSequence, deactivationOutcome, drainLatencyUs, keptEvents } from './demo-sequence';
import { CALLEE, CALLER, DEMO_SAP, type DemoBackend, type DemoSide, openDemoNodes } from './demo-topology';
import { type BurstCount, type PingCount, releaseUnderTraffic } from './demo-traffic';
import { type WarmUpReport, warmUp } from './warm-up';

export type { DemoBackend } from './demo-topology';
export type { BurstCount, PingCount } from './demo-traffic';

/** Each step of the demo, in order (the CLI's `--pause-at` names one). */
export const DEMO_STEPS = ['call', 'ping', 'release'] as const;
export type DemoStep = (typeof DEMO_STEPS)[number];

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

export interface DemoOptions {
  /** 'auto' (default) or 'wire': the two nodes in this process over the in-process wire. */
  backend?: 'auto' | DemoBackend;
  /** Echo requests A sends over the call, one at a time (default 5). */
  pings?: number;
  /** Write node A's frames (signalling and the call's, both ways as A's NDIS saw them) to this pcap file. */
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
   * Run warmUp() first, before anything is opened, so the deactivation measures the path warm and
   * not V8's first run of it. Default false; `condis demo` sets it unless --cold.
   */
  warmUp?: boolean;
}

/** What happened, phase by phase, as it happens. */
export type DemoEvent =
  | { kind: 'warmed-up'; warmUp: WarmUpReport }
  | { kind: 'topology'; backend: DemoBackend; note: string }
  | { kind: 'call'; call: DemoReport['call'] }
  | { kind: 'ping'; pings: PingCount }
  | { kind: 'released'; deactivation: DemoDeactivation; clearing: DemoClearing; traffic: BurstCount }
  | { kind: 'cleanup-failed'; what: string; error: Error };

/** B's deactivation, on RELEASE, with A's burst's replies in flight. */
export interface DemoDeactivation {
  /** Which node's VC (B: the released side, which deactivates at once). */
  side: 'B';
  status: string;
  /** NdisCmDeactivateVc returned PENDING (it waited for the drain). */
  pended: boolean;
  /** B's sends on the VC in its miniport / receives its client held when it was called. */
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

export interface DemoReport {
  backend: DemoBackend;
  note: string;
  topology: string;
  /** The call: who called whom, the VID it was bound to (picked by A's client), SAP. */
  call: { caller: string; callee: string; sap: number; vid: number; status: string };
  /**
   * paced: A's pings, one at a time. underTraffic: the burst during which A released the call;
   * `afterClose` of its replies reached A's NDIS after A's NdisClCloseCall (handed back unindicated).
   */
  pings: { paced: PingCount; underTraffic: BurstCount };
  frames: {
    /** A's sends on the call's VC and B's indications of them (its miniport's VC counters). */
    aToB: { sent: number; received: number; lost: number };
    bToA: { sent: number; received: number; lost: number };
  };
  deactivation: DemoDeactivation;
  clearing: DemoClearing;
  /** Signalling messages each node sent, by type (SETUP, CONNECT, CONNECT_ACK, RELEASE, ...). */
  signalling: { a: Record<string, number>; b: Record<string, number> };
  /** What warmUp() ran before the demo (options.warmUp), or null: the deactivation was cold. */
  warmUp: WarmUpReport | null;
  /** The NDIS sequence of each side's call VC. */
  sequence: { a: DemoSideSequence; b: DemoSideSequence };
  /** VCs left in each node's NDIS once both nodes stopped (0: every VC deleted, signalling too). */
  vcsLeft: { a: number; b: number };
  verifierViolations: number;
  /** What the teardown removed (nothing named on the wire: no TAP, no namespace). */
  removed: string[];
  /** With `options.pcap`: the file and the frames written to it. */
  pcap?: { file: string; frames: number };
  /** With `options.diagram`: both sequences as one Mermaid sequenceDiagram. */
  diagram?: string;
}

/** Whether the run showed what it should: every ping answered, nothing lost, the call released, nothing left. */
export function demoPassed(r: DemoReport): boolean {
  const p = r.pings;
  return (
    p.paced.answered === p.paced.sent &&
    p.underTraffic.answered + p.underTraffic.afterClose === p.underTraffic.sent &&
    r.frames.aToB.lost === 0 &&
    r.frames.bToA.lost === 0 &&
    r.clearing.close === 'SUCCESS' &&
    r.vcsLeft.a === 0 &&
    r.vcsLeft.b === 0
  );
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const pings = options.pings ?? 5;
  if (!Number.isInteger(pings) || pings < 1 || pings > 1000)
    throw new RangeError(`runDemo: pings must be an integer from 1 to 1000 (got ${pings})`);
  const emit = options.onEvent ?? (() => {});
  const run = new DemoRun<DemoStep>(options.signal, (what, error) =>
    emit({ kind: 'cleanup-failed', what, error }),
  );
  try {
    const report = await demoSteps(run, options, pings, emit);
    await run.teardown();
    report.removed = run.removed;
    return report;
  } catch (e) {
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
  if (options.warmUp) {
    warm = await guard(warmUp(options.signal ? { signal: options.signal } : {}));
    emit({ kind: 'warmed-up', warmUp: warm });
  }
  const nodes = await guard(openDemoNodes(run, pcap, run.pokeSoon));
  const { a, b } = nodes;
  emit({ kind: 'topology', backend: 'wire', note: nodes.note });
  const both = (step: string) => {
    a.mark(step);
    b.mark(step);
  };
  const at = async (s: DemoStep) => {
    run.step = s;
    const p = options.beforeStep?.(s);
    if (p) await guard(p);
  };

  // 1. The call: A's NdisClMakeCall; SETUP, CONNECT (each call manager activates its VC), CONNECT ACK.
  await at('call');
  both('make the call (SETUP, CONNECT, CONNECT ACK)');
  const made = await guard(a.node.call(CALLEE.mac, DEMO_SAP));
  const aCall = a.node.client.call(made.call);
  // B's call is connected once CONNECT ACK reached it (ProtocolClCallConnected).
  const bCall = await guard(incomingCall(b, made.vid));
  const call: DemoReport['call'] = {
    caller: CALLER.mac,
    callee: CALLEE.mac,
    sap: DEMO_SAP,
    vid: made.vid,
    status: statusName(NDIS_STATUS_SUCCESS),
  };
  emit({ kind: 'call', call });
  const aSlot = a.node.ndis.vcInfo(aCall.vc)!.slot;
  const bSlot = b.node.ndis.vcInfo(bCall.vc)!.slot;
  const aVc = a.node.adapter.vcFor(aCall.vc)!;
  const bVc = b.node.adapter.vcFor(bCall.vc)!;

  // 2. Pings over the VC, one at a time (A's client; B's answers).
  await at('ping');
  both('ping over the VC');
  const r = await guard(a.node.ping(made.call, pings));
  const paced: PingCount = { sent: r.sent, answered: r.received };
  emit({ kind: 'ping', pings: paced });

  // 3. RELEASE under traffic: B deactivates with replies in flight, then A after RELEASE COMPLETE.
  await at('release');
  both('release under traffic (RELEASE, the drains, RELEASE COMPLETE)');
  const rel = await guard(releaseUnderTraffic(run, a.node, aCall, b.node, bCall));
  const bEvents = b.trace.events;
  const aEvents = a.trace.events;
  const bOut = deactivationOutcome(bEvents, bSlot, rel.bFromSeq);
  const aOut = deactivationOutcome(aEvents, aSlot, rel.aFromSeq);
  if (!bOut || !aOut) throw new Error(`the deactivation of ${bOut ? "A's" : "B's"} VC is not in its trace`);
  const deactivation: DemoDeactivation = {
    side: 'B',
    status: bOut.status,
    pended: bOut.pended,
    sendsInFlight: rel.sendsInFlight,
    receivesHeld: rel.receivesHeld,
    drainUs: Number(drainLatencyUs(bEvents, bSlot, rel.bFromSeq).toFixed(1)),
  };
  const clearing: DemoClearing = {
    side: 'A',
    close: statusName(rel.close),
    status: aOut.status,
    pended: aOut.pended,
    drainUs: Number(drainLatencyUs(aEvents, aSlot, rel.aFromSeq).toFixed(1)),
  };
  emit({ kind: 'released', deactivation, clearing, traffic: rel.traffic });

  // Both nodes stop: every call closed (done), B's VC deleted by its call manager, the signalling
  // VCs closed, the miniports halted (they check that no VC is left).
  await guard(a.node.stop());
  await guard(b.node.stop());
  const frames: DemoReport['frames'] = {
    aToB: {
      sent: aVc.counters.txCompleted,
      received: bVc.counters.rxIndicated,
      lost: aVc.counters.txCompleted - bVc.counters.rxIndicated,
    },
    bToA: {
      sent: bVc.counters.txCompleted,
      received: aVc.counters.rxIndicated,
      lost: bVc.counters.txCompleted - aVc.counters.rxIndicated,
    },
  };
  const aKeep = keptEvents(aEvents, aSlot, rel.aFromSeq);
  const bKeep = keptEvents(bEvents, bSlot, rel.bFromSeq);
  const report: DemoReport = {
    backend: 'wire',
    note: nodes.note,
    topology: nodes.topology,
    call,
    pings: { paced, underTraffic: rel.traffic },
    frames,
    deactivation,
    clearing,
    signalling: { a: { ...a.node.cm.stats.sent }, b: { ...b.node.cm.stats.sent } },
    warmUp: warm,
    sequence: {
      a: { vcSlot: aSlot, lines: compactSequence(aEvents, aKeep, aSlot) },
      b: { vcSlot: bSlot, lines: compactSequence(bEvents, bKeep, bSlot) },
    },
    vcsLeft: { a: a.node.ndis.vcCount, b: b.node.ndis.vcCount },
    verifierViolations: a.node.ndis.verifier.count + b.node.ndis.verifier.count,
    removed: [],
  };
  if (options.diagram) report.diagram = bothSidesMermaid([side(a, aKeep), side(b, bKeep)]);
  if (pcap) {
    pcap.close();
    report.pcap = { file: pcap.file, frames: pcap.frames };
  }
  return report;
}

const side = (s: DemoSide, keep: Set<number>) => ({ trace: s.trace, keep });

/** B's call on `vid`, once connected (CONNECT ACK reached B). */
async function incomingCall(b: DemoSide, vid: number): Promise<NodeCall> {
  const find = () => [...b.node.client.calls.values()].find((c) => c.vid === vid && c.dir === 'in');
  const c = find();
  if (!c) throw new Error(`node B has no call on VID ${vid}`);
  if (!(await c.until(() => c.phase === 'connected', 15_000)))
    throw new Error(`node B's call on VID ${vid} did not connect (${c.phase})`);
  return c;
}
