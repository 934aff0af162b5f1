/**
 * The demo as a library: the main job, end to end, on one VC, returning a typed report. Endpoint A
 * is one host: a NIC (a TAP, or one end of the in-process wire), the CoNDIS runtime (recording its
 * trace), the reference miniport, the call manager of permanent VCs (PvcCallManager) and the
 * reference client (PingResponder, which answers ARP and ICMP echo for 10.42.0.2 on VC 42). The
 * run makes the call, runs ping traffic, deactivates the VC under traffic, re-activates it, closes
 * and deletes it, and reports frames each way, the drain latency of that deactivation and the
 * NDIS sequence of the VC. `condis demo` (lib/cli/demo.ts) parses, calls this and renders.
 *
 *   const report = await runDemo({ backend: 'wire', pings: 5, signal: AbortSignal.timeout(60_000) });
 *
 * Why the call manager is the PVC one: on a TAP the peer is the Linux host, which cannot speak the
 * signalling protocol of lib/cm, and the deactivation without a close and the re-activation the
 * demo shows (spec §3.4 c, §3.5 b) are the call manager's own moves; every step is then one real
 * NDIS request on this one VC, with the host's real ping as the witness (answered, not answered,
 * answered again). Topology: demo-topology.ts; the peer and "under traffic": demo-peers.ts; what is
 * read out of the trace: demo-sequence.ts; abort, teardown and waits: demo-run.ts.
 *
 * The drain latency is NdisCmDeactivateVc -> ProtocolCmDeactivateVcComplete, from the trace's
 * stamps (performance.now()). Everything created is removed at the end, on error, and when
 * `signal` aborts (then runDemo rejects with DemoInterrupted, which names the step and what was
 * removed).
 *
 * Layer: scenarios — a user's program of the whole stack (device, NDIS, miniport, call manager,
 * client, host plumbing); below the CLI only.
 */
import { condisCallParameters } from '../medium/params';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import { PcapWriter } from '../pcap/writer';
import { type Peer, type PingCount, tapPeer, wirePeer } from './demo-peers';
import { DemoRun } from './demo-run';
import { compactSequence, drainLatencyUs, keptEvents } from './demo-sequence';
import { CLIENT_IP, type DemoBackend, HOST_IP, openDemoNic, openEndpointA, VID } from './demo-topology';
import { type WarmUpReport, warmUp } from './warm-up';

export type { PingCount } from './demo-peers';
export type { DemoBackend } from './demo-topology';

/** Each step of the demo, in order (the CLI's `--pause-at` names one). */
export const DEMO_STEPS = [
  'call',
  'ping',
  'deactivate',
  'inactive',
  'reactivate',
  'ping-again',
  'close',
  'delete',
] as const;
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

/** Max SDU size of the re-activation's new call parameters. */
const REACTIVATION_MAX_SDU = 1200;

/**
 * A TAP: let what the kernel queued before anything could receive (frames from before the
 * namespace, read once pair 0 has buffers) arrive before the baselines are taken. A quiet period,
 * not a wait for an event: there is no count of such frames to wait for.
 */
const TAP_SETTLE_MS = 50;

export interface DemoOptions {
  /** 'auto' (default): tap if this process may create a TAP (and the host can ping), else wire. */
  backend?: 'auto' | DemoBackend;
  /** Echo requests in each phase: before the deactivation, while inactive, after (default 5). */
  pings?: number;
  /** Write the VC's frames, both ways as endpoint A's NDIS saw them, to this pcap file. */
  pcap?: string;
  /** Render the VC's NDIS sequence as a Mermaid sequenceDiagram into `report.diagram`. */
  diagram?: boolean;
  /** Aborting ends the run: everything is removed, then runDemo rejects with DemoInterrupted. */
  signal?: AbortSignal;
  /** Called before each step; a returned promise is awaited (raced by `signal`). */
  beforeStep?: (step: DemoStep) => void | Promise<void>;
  /** Each phase as it ends (for a progress display). */
  onEvent?: (e: DemoEvent) => void;
  /**
   * Run warmUp() first, before anything is opened, so the deactivation measures the path warm and
   * not V8's first run of it (cold, ~1 ms; warm, tens of µs). Default false; `condis demo` sets
   * it unless --cold.
   */
  warmUp?: boolean;
}

/** What happened, phase by phase, as it happens. */
export type DemoEvent =
  | { kind: 'warmed-up'; warmUp: WarmUpReport }
  | { kind: 'topology'; backend: DemoBackend; note: string }
  | { kind: 'call'; pair: number | undefined }
  | { kind: 'ping'; step: 'ping' | 'ping-again'; pings: PingCount }
  | { kind: 'deactivated'; deactivation: DemoDeactivation; traffic: PingCount }
  | { kind: 'inactive'; pings: PingCount; droppedByDevice: number }
  | { kind: 'reactivated'; maxSduSize: number; pair: number | undefined }
  | { kind: 'closed' }
  | { kind: 'cleanup-failed'; what: string; error: Error };

export interface DemoDeactivation {
  status: string;
  /** NdisCmDeactivateVc returned PENDING (it waited for the drain). */
  pended: boolean;
  /** The VC's sends in the miniport / receives held by the client when it was called. */
  sendsInFlight: number;
  receivesHeld: number;
  /** NdisCmDeactivateVc to its completion, µs (0.1 µs resolution). */
  drainUs: number;
}

export interface DemoReport {
  backend: DemoBackend;
  note: string;
  topology: string;
  pings: { before: PingCount; underTraffic: PingCount; inactive: PingCount; after: PingCount };
  frames: {
    /** `untagged`: frames of the host not on any VLAN (pair 0), not the VC's. */
    toClient: {
      sent: number;
      received: number;
      /** Dropped by the device for VID 42 while no pair carried it, or harvested while draining. */
      droppedInactive: number;
      /** Dropped by the device for want of a receive buffer on the VC's pair (or its queue stopped). */
      droppedNoBuffer: number;
      untagged: number;
      lost: number;
    };
    fromClient: { sent: number; received: number; lost: number };
  };
  deactivation: DemoDeactivation;
  /** What warmUp() ran before the demo (options.warmUp), or null: the deactivation was cold. */
  warmUp: WarmUpReport | null;
  reactivation: { status: string; maxSduSize: number };
  close: string;
  /** The VC's NDIS slot. */
  vcSlot: number;
  /** The VC's NDIS sequence, compact: `# step` headers, `  Name(status) -> result` lines. */
  sequence: string[];
  verifierViolations: number;
  /** What the teardown removed (the TAP and the namespace; nothing named on the wire). */
  removed: string[];
  /** With `options.pcap`: the file and the frames written to it. */
  pcap?: { file: string; frames: number };
  /** With `options.diagram`: the same sequence as a Mermaid sequenceDiagram. */
  diagram?: string;
}

/** Whether the run showed what it should: every ping answered while active, none while inactive, nothing lost. */
export function demoPassed(r: DemoReport): boolean {
  const p = r.pings;
  return (
    p.before.answered === p.before.sent &&
    p.after.answered === p.after.sent &&
    p.inactive.answered === 0 &&
    r.frames.toClient.lost === 0 &&
    r.frames.fromClient.lost === 0
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
  const nic = openDemoNic(run, options.backend ?? 'auto');
  const isTap = nic.backend === 'tap';
  emit({ kind: 'topology', backend: nic.backend, note: nic.note });
  const dev = nic.dev;
  const a = openEndpointA(run, nic, pcap);
  const { ndis, trace, cm, responder, vcHandle, slot, mvc } = a;

  if (isTap) await guard(new Promise<void>((r) => setTimeout(r, TAP_SETTLE_MS)));
  const untaggedAtStart = a.untaggedCount();
  const unboundAtStart = dev.stats().rxUnboundVid;
  const vcPairsNoBuffer = () => dev.stats().pairs.reduce((n, q, k) => n + (k > 0 ? q.rxNoBuffer : 0), 0);
  const noBufferAtStart = vcPairsNoBuffer();
  const peer: Peer = isTap
    ? tapPeer(nic.ns!, nic.tapName, pings, responder, ndis, (f) => {
        a.afterInterrupt = f;
      })
    : await guard(wirePeer(run, nic.farDev!, dev, responder, ndis));

  const at = async (s: DemoStep) => {
    run.step = s;
    const p = options.beforeStep?.(s);
    if (p) await guard(p);
  };

  // 1. The call: NdisClMakeCall; the call manager activates the VC (NdisCmActivateVc).
  await at('call');
  a.mark('make the call');
  const made = await guard(responder.start());
  if (made !== NDIS_STATUS_SUCCESS) throw new Error(`NdisClMakeCall: ${statusName(made)}`);
  emit({ kind: 'call', pair: mvc.pair?.index });

  // 2. Traffic.
  await at('ping');
  a.mark('ping');
  const before = await guard(peer.ping(pings));
  emit({ kind: 'ping', step: 'ping', pings: before });

  // 3. Deactivation under traffic.
  await at('deactivate');
  a.mark('deactivate under traffic');
  const started: {
    d: {
      status: NdisStatus;
      done: Promise<NdisStatus>;
      fromSeq: number;
      inFlight: number;
      held: number;
    } | null;
  } = { d: null };
  const startDeactivation = () => {
    if (started.d) return;
    const i = ndis.vcInfo(vcHandle)!;
    const fromSeq = (trace.last()?.seq ?? -1) + 1;
    const d = cm.deactivate(vcHandle);
    started.d = { ...d, fromSeq, inFlight: i.txInMiniport, held: i.rxHeld };
  };
  const underTraffic = await guard(peer.underTraffic(startDeactivation));
  const dv = started.d;
  if (!dv) throw new Error('the deactivation did not start');
  const deactStatus = await guard(dv.done);
  if (deactStatus !== NDIS_STATUS_SUCCESS) throw new Error(`deactivation: ${statusName(deactStatus)}`);
  const deactivation: DemoDeactivation = {
    status: statusName(deactStatus),
    pended: dv.status === NDIS_STATUS_PENDING,
    sendsInFlight: dv.inFlight,
    receivesHeld: dv.held,
    drainUs: Number(drainLatencyUs(trace.events, slot, dv.fromSeq).toFixed(1)),
  };
  emit({ kind: 'deactivated', deactivation, traffic: underTraffic });

  // 4. Inactive: the peer's requests are dropped by the device (no pair carries VID 42).
  await at('inactive');
  a.mark('ping while inactive');
  const unboundBefore = dev.stats().rxUnboundVid;
  const inactive = await guard(peer.pingInactive(pings));
  emit({ kind: 'inactive', pings: inactive, droppedByDevice: dev.stats().rxUnboundVid - unboundBefore });

  // 5. Re-activation by the call manager with new parameters (spec §3.5 b).
  await at('reactivate');
  a.mark('re-activate');
  const params = condisCallParameters(VID, { maxSduSize: REACTIVATION_MAX_SDU });
  const react = await guard(cm.activate(vcHandle, params));
  if (react !== NDIS_STATUS_SUCCESS) throw new Error(`re-activation: ${statusName(react)}`);
  emit({ kind: 'reactivated', maxSduSize: REACTIVATION_MAX_SDU, pair: mvc.pair?.index });

  await at('ping-again');
  a.mark('ping again');
  const after = await guard(peer.ping(pings));
  emit({ kind: 'ping', step: 'ping-again', pings: after });

  // 6. Close (NdisClCloseCall: the call manager deactivates, the close completes once drained)
  //    and delete (NdisCoDeleteVc, then the client unbinds).
  await at('close');
  a.mark('close the call');
  const closed = await guard(responder.stop());
  if (closed !== NDIS_STATUS_SUCCESS) throw new Error(`NdisClCloseCall: ${statusName(closed)}`);
  await at('delete');
  a.mark('delete the VC');
  await guard(responder.close());
  emit({ kind: 'closed' });

  // Counters, then the drivers go. The close completed once the VC drained, so the miniport
  // holds no send of it any more; checked, not assumed.
  await guard(run.when(() => mvc.txInFlight === 0, 'the last sends'));
  const p = peer.counts();
  const droppedInactive = dev.stats().rxUnboundVid - unboundAtStart + mvc.counters.rxDiscarded;
  const other = a.untaggedCount() - untaggedAtStart;
  const noBuffer = vcPairsNoBuffer() - noBufferAtStart;
  const frames: DemoReport['frames'] = {
    toClient: {
      sent: p.sent,
      received: mvc.counters.rxIndicated,
      droppedInactive,
      droppedNoBuffer: noBuffer,
      untagged: other,
      lost: p.sent - mvc.counters.rxIndicated - droppedInactive - noBuffer - other,
    },
    fromClient: {
      sent: mvc.counters.txCompleted,
      received: p.received,
      lost: mvc.counters.txCompleted - p.received,
    },
  };
  await guard(peer.close());
  await guard(a.adapter.halt());

  const keep = keptEvents(trace.events, slot, dv.fromSeq);
  const report: DemoReport = {
    backend: nic.backend,
    note: nic.note,
    topology: isTap
      ? `endpoint A (TAP + NDIS + miniport + PvcCallManager + PingResponder ${CLIENT_IP}) <-> the host in namespace ${nic.nsName} (${HOST_IP} on VLAN ${VID}: ${nic.vlan})`
      : `endpoint A (wire + NDIS + miniport + PvcCallManager + PingResponder ${CLIENT_IP}) <-> endpoint B (wire + NDIS + miniport + PvcCallManager + pinging client ${HOST_IP})`,
    pings: { before, underTraffic, inactive, after },
    frames,
    deactivation,
    warmUp: warm,
    reactivation: { status: statusName(react), maxSduSize: REACTIVATION_MAX_SDU },
    close: statusName(closed),
    vcSlot: slot,
    sequence: compactSequence(trace.events, keep, slot),
    verifierViolations: ndis.verifier.count,
    removed: [],
  };
  if (options.diagram) report.diagram = trace.toMermaid({ filter: (e) => keep.has(e.seq) });
  if (pcap) {
    pcap.close();
    report.pcap = { file: pcap.file, frames: pcap.frames };
  }
  return report;
}
