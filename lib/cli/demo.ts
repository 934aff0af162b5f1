/**
 * `condis demo`: the main job, end to end, on one VC. Endpoint A is one host: a NIC (a TAP, or one
 * end of the in-process wire), the CoNDIS runtime (recording its trace), the reference miniport,
 * the call manager of permanent VCs (PvcCallManager) and the reference client (PingResponder,
 * which answers ARP and ICMP echo for 10.42.0.2 on VC 42). The demo makes the call, runs ping
 * traffic, deactivates the VC under traffic, re-activates it, closes and deletes it, and prints
 * frames each way, the drain latency of that deactivation and the NDIS sequence of the VC.
 *
 * Topology, and why this one:
 * - tap: the peer is the Linux host itself. The TAP is moved into a network namespace of the
 *   demo's own, where the host has 10.42.0.1 on VLAN 42 — the subinterface <tap>.42, or on a
 *   kernel without 802.1Q the TAP itself with the VID pushed/popped by two tcx eBPF programs
 *   (lib/host/vlan-tagger.py) — and the kernel's `ping` is the traffic. The host cannot speak the
 *   signalling protocol of lib/cm, and the deactivation without a close and the re-activation the
 *   issue asks for (spec §3.4 c, §3.5 b) are the call manager's own moves, so the call manager is
 *   the PVC one: every step is then one real NDIS request on this one VC, with the host's real
 *   ping as the witness (answered, not answered, answered again).
 * - wire (no CAP_NET_ADMIN, or asked for): endpoint B — its own device, NDIS, miniport, call
 *   manager and a pinging client (lib/client/pinger.ts WirePinger) — plays the host over the wire.
 *
 * "Under traffic": the deactivation starts with sends of the client in the miniport.
 * - wire: B's client holds every reply it receives, so B's receive ring empties and, the wire being
 *   lossless, A's further replies stay on A's transmit ring; NdisCmDeactivateVc then finds exactly
 *   that many sends in flight, and B gives its buffers back in the next turn.
 * - tap: a TAP never stalls a writer; the deactivation is called from the device interrupt in
 *   which the responder answered a request of a ping flood, in the same JS turn, while the reply
 *   is still on the transmit ring (its completion is harvested in a later interrupt).
 * The drain latency is NdisCmDeactivateVc -> ProtocolCmDeactivateVcComplete, from the trace's
 * stamps (performance.now()).
 *
 * Cleanup: everything created is tracked and removed at the end, on error, and on SIGINT (Ctrl-C:
 * exit status 130), SIGTERM (143) or SIGHUP (129): the ping processes, the namespace, the TAP
 * (its eBPF programs go with it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { WirePinger } from '../client/pinger';
import { PingResponder } from '../client/responder';
import type { Device } from '../device/device';
import { openTap, openWirePair, tapUnavailableReason } from '../device/open';
import { FramePort } from '../device/port';
import {
  HostNamespace,
  type HostVlan,
  hostToolsMissing,
  type InterfaceCounters,
  type PingResult,
} from '../host/namespace';
import { quiet } from '../host/tc';
import { MiniportAdapter } from '../miniport/adapter';
import { condisCallParameters } from '../miniport/params';
import type { MiniportVc } from '../miniport/vc';
import type { NetBufferList } from '../ndis/nbl';
import { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import type { TraceEvent } from '../ndis/trace';
import { PcapWriter } from '../pcap/writer';
import { PvcCallManager } from '../vc/pvc-call-manager';
import { choice, intFlag, parse, UsageError } from './usage';

export const HELP = `usage: condis demo [--backend auto|tap|wire] [--pings N] [--mermaid FILE] [--pcap FILE] [--json]

The main job, end to end, on VC 42: a NIC, the CoNDIS runtime, the miniport, the call manager
and a client that answers ping (10.42.0.2); the call; ping traffic; the VC deactivated under
traffic (sends in flight), re-activated, closed and deleted. Then a report: frames each way, the
drain latency of that deactivation and the NDIS sequence the VC went through. Everything the
demo creates is removed at the end, also on Ctrl-C (exit status 130), SIGTERM (143) or SIGHUP (129).

  --backend  auto (default): tap if this process may create a TAP (CAP_NET_ADMIN), else wire
             tap:  the peer is this Linux host: the TAP goes into a network namespace of its
                   own where the kernel's ping reaches the client on VLAN 42 (the subinterface
                   <tap>.42, or on a kernel without 802.1Q the TAP with VID 42 pushed and popped
                   by tcx eBPF); needs root, iproute2, iputils ping (and python3 without 802.1Q)
             wire: in-process, no privilege; a second endpoint (device, NDIS, miniport, call
                   manager, pinging client) plays the host over the wire
  --pings    echo requests in each phase: before the deactivation, while the VC is inactive,
             after the re-activation (default 5; 1..1000)
  --mermaid  write the VC's NDIS sequence to FILE as a Mermaid sequenceDiagram
  --pcap     write the VC's frames, both ways as endpoint A's NDIS saw them, to FILE (pcap,
             802.1Q tag VID 42 re-inserted)
  --json     print the report as JSON

example: sudo condis demo --pings 10 --mermaid demo.mmd`;

export const STEPS = [
  'call',
  'ping',
  'deactivate',
  'inactive',
  'reactivate',
  'ping-again',
  'close',
  'delete',
] as const;
export type Step = (typeof STEPS)[number];

/** Signals that end the demo cleanly: exit status 128 + the signal's number (130 for Ctrl-C). */
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const VID = 42;
const CLIENT_IP = '10.42.0.2';
const CLIENT_MAC = '02:00:00:00:42:02';
const HOST_IP = '10.42.0.1';
const HOST_MAC = '02:00:00:00:42:01';
const DATA_PATH = /NetBufferLists/;
const STEP_TIMEOUT_MS = 15_000;
/** TAP: replies the miniport must hold for the flood's deactivation to start (see tapPeer). */
const IN_FLIGHT_TRIGGER = 1;

class Interrupted extends Error {
  constructor(readonly step: string) {
    super(`interrupted during ${step}`);
  }
}

export interface PingCount {
  sent: number;
  answered: number;
}

export interface DemoReport {
  backend: 'tap' | 'wire';
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
  deactivation: {
    status: string;
    pended: boolean;
    sendsInFlight: number;
    receivesHeld: number;
    drainUs: number;
  };
  reactivation: { status: string; maxSduSize: number };
  close: string;
  vcSlot: number;
  sequence: string[];
  verifierViolations: number;
  removed: string[];
  mermaid?: string;
  pcap?: { file: string; frames: number };
}

/** The peer's side of each phase. */
interface Peer {
  /** `n` pings, paced; resolves with the counts. */
  ping(n: number): Promise<PingCount>;
  /** Traffic during which `deactivate` is called with sends of the client in flight. */
  underTraffic(deactivate: () => void): Promise<PingCount>;
  /** `n` pings while the VC is inactive (none should be answered). */
  pingInactive(n: number): Promise<PingCount>;
  /** Frames the peer sent towards the client / received from it (kernel or miniport counters). */
  counts(): { sent: number; received: number };
  /** Orderly end of the peer's own drivers (wire); nothing on a TAP. */
  close(): Promise<void>;
}

/** Resolves once `cond()` holds (checked every millisecond or so); rejects after `ms`. */
function until(cond: () => boolean, what: string, ms = STEP_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(check, 1);
    };
    check();
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function demo(argv: string[]): Promise<number> {
  const f = parse(argv, {
    backend: { type: 'string' },
    pings: { type: 'string' },
    mermaid: { type: 'string' },
    pcap: { type: 'string' },
    json: { type: 'boolean' },
    'pause-at': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (f.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const backend = choice('backend', f.backend, ['auto', 'tap', 'wire'] as const, 'auto');
  const pings = intFlag('pings', f.pings, 5, 1, 1000);
  for (const k of ['mermaid', 'pcap'] as const)
    if (f[k] === '' || f[k] === true) throw new UsageError(`--${k} needs a file name`);
  const pauseAt = f['pause-at'] === undefined ? undefined : choice('pause-at', f['pause-at'], STEPS, 'call');
  const json = f.json === true;
  const say = (s: string) => (json ? undefined : process.stdout.write(`${s}\n`));

  // Interruption: every await of the run races this promise; SIGINT, SIGTERM or SIGHUP rejects it
  // (without a handler SIGTERM would kill the process with its namespace and pings left behind).
  let step = 'setup';
  let rejectInterrupt: (e: Error) => void = () => {};
  const interrupt = new Promise<never>((_, reject) => {
    rejectInterrupt = reject;
  });
  interrupt.catch(() => {});
  let interrupted = false;
  let interruptStatus = 130;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    interruptStatus = 128 + (os.constants.signals[signal] ?? 2);
    rejectInterrupt(new Interrupted(step));
  };
  for (const sig of INTERRUPTS) process.on(sig, onSignal);
  const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, interrupt]);

  // What to undo, newest first; `removed` says what was.
  const undo: Array<{ what: string; fn: () => void | Promise<void> }> = [];
  const removed: string[] = [];
  const cleanup = async () => {
    for (let u = undo.pop(); u; u = undo.pop()) {
      try {
        await u.fn();
        if (u.what) removed.push(u.what);
      } catch (e) {
        process.stderr.write(`condis demo: cleanup of ${u.what}: ${(e as Error).message}\n`);
      }
    }
  };

  let pcap: PcapWriter | null = null;
  try {
    if (typeof f.pcap === 'string') {
      pcap = new PcapWriter(f.pcap);
      const w = pcap;
      undo.push({ what: '', fn: () => w.close() });
    }

    // ---------------------------------------------------------------------------------------
    // The NIC: a TAP (with the host in a namespace behind it), or the wire.
    let dev: Device | null = null;
    let note = '';
    let wireWhy = '';
    const n = process.pid;
    const tapName = `condisD${n % 100000}`;
    const nsName = `condis-demo-${n}`;
    if (backend !== 'wire') {
      try {
        // Down until it is up in the namespace, and no IPv6 on it: no MLD or router
        // solicitations of the host's own into the demo.
        dev = openTap({ name: tapName, queuePairs: 2, queueSize: 256, up: false });
        quiet(tapName);
      } catch (e) {
        const why = tapUnavailableReason(e);
        if (why === null) throw e;
        if (backend === 'tap') throw new Error(`--backend tap: ${why}`);
        wireWhy = why;
      }
      const tools = dev ? hostToolsMissing() : null;
      if (dev && tools !== null) {
        dev.destroy();
        dev = null;
        if (backend === 'tap') throw new Error(`--backend tap: ${tools}`);
        wireWhy = `TAPs are available but the host cannot ping: ${tools}`;
      }
    } else {
      wireWhy = 'asked for (--backend wire)';
    }

    let ns: HostNamespace | null = null;
    let vlan: HostVlan | null = null;
    let farDev: Device | null = null;
    if (dev) {
      const d = dev;
      undo.push({ what: `TAP ${tapName}`, fn: () => d.destroy() });
      ns = HostNamespace.create(nsName);
      const h = ns;
      undo.push({ what: `namespace ${nsName} (and the pings in it)`, fn: () => h.destroy() });
      vlan = ns.attachTap(tapName, VID, `${HOST_IP}/24`);
      note =
        vlan === 'vlan-subinterface'
          ? `tap backend: TAP ${tapName} in namespace ${nsName}; the host pings ${CLIENT_IP} through ${tapName}.${VID}`
          : `tap backend: TAP ${tapName} in namespace ${nsName}; the host pings ${CLIENT_IP} on VLAN ${VID} (kernel without 802.1Q: VID pushed/popped by tcx eBPF on the TAP)`;
    } else {
      const [a, b] = openWirePair({ queuePairs: 2, queueSize: 32 });
      dev = a;
      farDev = b;
      undo.push({
        what: '',
        fn: () => {
          a.destroy();
          b.destroy();
        },
      });
      note = `wire backend: ${wireWhy}; endpoint B pings ${CLIENT_IP} over the in-process wire`;
    }
    const isTap = dev.backend === 'tap';
    say(note);

    // ---------------------------------------------------------------------------------------
    // Endpoint A: NDIS, the miniport, the call manager, the client.
    const ndis = new Ndis({ verifier: 'report' });
    const trace = ndis.trace!;
    const mark = (name: string) => trace.record({ kind: 'note', from: 'Client', to: 'Client', name });
    const adapter = new MiniportAdapter(ndis, dev, { name: 'condis-miniport' });
    const cm = new PvcCallManager(ndis, adapter.handle, 'pvc-call-manager');
    mark('demo: the client creates its VC');
    const responder = PingResponder.open(ndis, adapter.handle, {
      vid: VID,
      ip: CLIENT_IP,
      mac: CLIENT_MAC,
      callManager: cm,
    });
    const vcHandle = responder.vcHandle;
    const slot = ndis.vcInfo(vcHandle)!.slot;
    const mvc: MiniportVc = adapter.vcFor(vcHandle)!;
    if (pcap) capture(ndis, pcap);

    // Pair 0 (untagged; the miniport uses pairs 1..N-1) gets a port with receive buffers on a
    // TAP: the device reads the TAP only while some queue has a buffer, so without it the host's
    // frames would wait in the kernel while the VC is inactive instead of reaching the device and
    // being dropped there for their VID (counted). Untagged frames end up here, counted apart.
    const untagged = isTap ? new FramePort(dev, 0) : null;
    untagged?.postRx();
    // The device interrupt, after the miniport's: where the TAP's deactivation is triggered.
    let onAfterInterrupt: (() => void) | null = null;
    const miniportInterrupt = dev.onInterrupt;
    dev.onInterrupt = () => {
      miniportInterrupt?.();
      untagged?.poll();
      onAfterInterrupt?.();
    };

    // What the kernel queued before anything could receive (frames from before the namespace,
    // read once pair 0 has buffers) is not the demo's: let it arrive before the baselines.
    if (isTap) await guard(sleep(50));
    const d0 = dev;
    const untaggedCount = () => (untagged ? untagged.received + (d0.stats().pairs[0]?.rxNoBuffer ?? 0) : 0);
    const untaggedAtStart = untaggedCount();
    const unboundAtStart = dev.stats().rxUnboundVid;
    const vcPairsNoBuffer = () => d0.stats().pairs.reduce((n, q, k) => n + (k > 0 ? q.rxNoBuffer : 0), 0);
    const noBufferAtStart = vcPairsNoBuffer();
    const peer: Peer = isTap
      ? tapPeer(ns!, tapName, pings, responder, ndis, (f) => {
          onAfterInterrupt = f;
        })
      : await guard(wirePeer(farDev!, dev, adapter, responder, ndis, guard));

    const at = async (s: Step) => {
      step = s;
      if (pauseAt !== s) return;
      process.stderr.write(`condis demo: paused before ${s}; Ctrl-C ends the demo\n`);
      const keepAlive = setInterval(() => {}, 1000);
      try {
        await guard(new Promise<never>(() => {}));
      } finally {
        clearInterval(keepAlive);
      }
    };

    // 1. The call: NdisClMakeCall; the call manager activates the VC (NdisCmActivateVc).
    await at('call');
    mark('demo: make the call');
    const made = await guard(responder.start());
    if (made !== NDIS_STATUS_SUCCESS) throw new Error(`NdisClMakeCall: ${statusName(made)}`);
    say(
      `call        NdisClMakeCall on VC ${VID}: SUCCESS (the call manager activated it; pair ${mvc.pair?.index})`,
    );

    // 2. Traffic.
    await at('ping');
    mark('demo: ping');
    const before = await guard(peer.ping(pings));
    say(`ping        ${before.answered}/${before.sent} answered`);

    // 3. Deactivation under traffic.
    await at('deactivate');
    mark('demo: deactivate under traffic');
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
    const drainUs = drainLatencyUs(trace.events, slot, dv.fromSeq);
    say(
      `deactivate  NdisCmDeactivateVc under traffic: ${dv.inFlight} send(s) in flight, ${dv.held} receive(s) held -> ${dv.status === NDIS_STATUS_PENDING ? 'pended, drained' : 'done at once'} in ${drainUs.toFixed(1)} µs`,
    );
    say(`            traffic meanwhile: ${underTraffic.answered}/${underTraffic.sent} answered`);

    // 4. Inactive: the peer's requests are dropped by the device (no pair carries VID 42).
    await at('inactive');
    mark('demo: ping while inactive');
    const unboundBefore = dev.stats().rxUnboundVid;
    const inactive = await guard(peer.pingInactive(pings));
    say(
      `inactive    ${inactive.answered}/${inactive.sent} answered (the device dropped ${dev.stats().rxUnboundVid - unboundBefore} frame(s) for VID ${VID}: not bound)`,
    );

    // 5. Re-activation by the call manager with new parameters (spec §3.5 b).
    await at('reactivate');
    mark('demo: re-activate');
    const params = condisCallParameters(VID, { maxSduSize: 1200 });
    const react = await guard(cm.activate(vcHandle, params));
    if (react !== NDIS_STATUS_SUCCESS) throw new Error(`re-activation: ${statusName(react)}`);
    say(`reactivate  NdisCmActivateVc (maxSduSize 1200): SUCCESS (pair ${mvc.pair?.index})`);

    await at('ping-again');
    mark('demo: ping again');
    const after = await guard(peer.ping(pings));
    say(`ping        ${after.answered}/${after.sent} answered`);

    // 6. Close (NdisClCloseCall: the call manager deactivates, the close completes once drained)
    //    and delete (NdisCoDeleteVc, then the client unbinds).
    await at('close');
    mark('demo: close the call');
    const closed = await guard(responder.stop());
    if (closed !== NDIS_STATUS_SUCCESS) throw new Error(`NdisClCloseCall: ${statusName(closed)}`);
    await at('delete');
    mark('demo: delete the VC');
    await guard(responder.close());
    say('close       NdisClCloseCall: SUCCESS; NdisCoDeleteVc: SUCCESS');

    // Counters, then the drivers go.
    await guard(until(() => mvc.txInFlight === 0, 'the last sends'));
    const p = peer.counts();
    const droppedInactive = dev.stats().rxUnboundVid - unboundAtStart + mvc.counters.rxDiscarded;
    const other = untaggedCount() - untaggedAtStart;
    const noBuffer = vcPairsNoBuffer() - noBufferAtStart;
    const frames = {
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
    await guard(adapter.halt());

    const keep = keptEvents(trace.events, slot, dv.fromSeq);
    const sequence = compactSequence(trace.events, keep, slot);
    const report: DemoReport = {
      backend: isTap ? 'tap' : 'wire',
      note,
      topology: isTap
        ? `endpoint A (TAP + NDIS + miniport + PvcCallManager + PingResponder ${CLIENT_IP}) <-> the host in namespace ${nsName} (${HOST_IP} on VLAN ${VID}: ${vlan})`
        : `endpoint A (wire + NDIS + miniport + PvcCallManager + PingResponder ${CLIENT_IP}) <-> endpoint B (wire + NDIS + miniport + PvcCallManager + pinging client ${HOST_IP})`,
      pings: { before, underTraffic, inactive, after },
      frames,
      deactivation: {
        status: statusName(deactStatus),
        pended: dv.status === NDIS_STATUS_PENDING,
        sendsInFlight: dv.inFlight,
        receivesHeld: dv.held,
        drainUs: Number(drainUs.toFixed(1)),
      },
      reactivation: { status: statusName(react), maxSduSize: 1200 },
      close: statusName(closed),
      vcSlot: slot,
      sequence,
      verifierViolations: ndis.verifier.count,
      removed,
    };
    if (typeof f.mermaid === 'string') {
      fs.writeFileSync(f.mermaid, trace.toMermaid({ filter: (e) => keep.has(e.seq) }));
      report.mermaid = f.mermaid;
    }
    if (pcap) {
      pcap.close();
      report.pcap = { file: pcap.file, frames: pcap.frames };
    }
    await cleanup();
    report.removed = removed;

    if (json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      say('');
      say('frames on VC 42     sent    received  dropped (VC inactive)  lost');
      const row = (label: string, v: { sent: number; received: number; lost: number }, dropped: string) =>
        say(
          `${label.padEnd(20)}${String(v.sent).padEnd(8)}${String(v.received).padEnd(10)}${dropped.padEnd(23)}${v.lost}`,
        );
      const peerName = isTap ? 'host' : 'B';
      row(`${peerName} -> client`, frames.toClient, String(frames.toClient.droppedInactive));
      if (frames.toClient.droppedNoBuffer > 0)
        say(
          `  (and ${frames.toClient.droppedNoBuffer} dropped by the device: no receive buffer on the VC's pair or its queue stopped)`,
        );
      if (frames.toClient.untagged > 0)
        say(`  (and ${frames.toClient.untagged} untagged frame(s) of the host, not on VLAN ${VID}: pair 0)`);
      row(`client -> ${peerName}`, frames.fromClient, '-');
      say(
        `  (${isTap ? "the host's side: the kernel's TAP counters" : "B's side: its miniport's and client's counters"}; the client's side: the miniport's VC counters)`,
      );
      say('');
      say(`NDIS sequence of the VC (slot ${slot}; data path shown only during the drain):`);
      for (const s of sequence) say(`  ${s}`);
      say('');
      say(`verifier: ${report.verifierViolations} violation(s)`);
      if (report.mermaid) say(`mermaid: ${report.mermaid}`);
      if (report.pcap) say(`pcap: ${report.pcap.frames} frames -> ${report.pcap.file}`);
      say(`removed: ${removed.length ? removed.join(', ') : 'nothing to remove'}`);
    }
    const ok =
      before.answered === before.sent &&
      after.answered === after.sent &&
      inactive.answered === 0 &&
      frames.toClient.lost === 0 &&
      frames.fromClient.lost === 0;
    return ok ? 0 : 1;
  } catch (e) {
    await cleanup();
    if (e instanceof Interrupted || interrupted) {
      process.stderr.write(
        `condis demo: interrupted during ${step}; removed: ${removed.length ? removed.join(', ') : 'nothing'}\n`,
      );
      return interruptStatus;
    }
    throw e;
  } finally {
    for (const sig of INTERRUPTS) process.off(sig, onSignal);
  }
}

// -------------------------------------------------------------------------------------------------
// Peers

/** The Linux host in its namespace: the kernel's ping. */
function tapPeer(
  ns: HostNamespace,
  tap: string,
  pings: number,
  responder: PingResponder,
  ndis: Ndis,
  setAfterInterrupt: (f: (() => void) | null) => void,
): Peer {
  const base = ns.counters(tap) ?? { rxPackets: 0, txPackets: 0, rxDropped: 0, txDropped: 0 };
  const count = (r: PingResult): PingCount => ({ sent: r.transmitted, answered: r.received });
  let last: InterfaceCounters = base;
  return {
    // -W: the wait after the last request; ping ends as soon as every reply is in.
    ping: async (k) => count(await ns.ping(CLIENT_IP, ['-q', '-c', String(k), '-i', '0.2', '-W', '5'])),
    underTraffic: async (deactivate) => {
      // A ping flood (16 requests of 1400 bytes outstanding); once 20 of it were answered, the VC
      // is deactivated from the first interrupt that leaves IN_FLIGHT_TRIGGER replies in flight.
      // The miniport harvests what the device finished meanwhile inside MiniportCoDeactivateVc:
      // if that was all, the deactivation completes at once; else it pends until the rest is
      // written to the TAP. The report says which.
      const echoes = responder.counters.echoReplies;
      let fired = false;
      const fire = () => {
        fired = true;
        setAfterInterrupt(null);
        deactivate();
      };
      setAfterInterrupt(() => {
        if (responder.counters.echoReplies - echoes < 20) return;
        if ((ndis.vcInfo(responder.vcHandle)?.txInMiniport ?? 0) >= IN_FLIGHT_TRIGGER) fire();
      });
      const flood = Math.max(200, pings * 40);
      const r = await ns.ping(CLIENT_IP, [
        '-q',
        '-c',
        String(flood),
        '-i',
        '0.002',
        '-l',
        '16',
        '-s',
        '1400',
        '-W',
        '1',
      ]);
      // Nothing was ever seen in flight (every reply completed inside its own interrupt): the
      // deactivation still happens, and the report shows 0 in flight.
      if (!fired) fire();
      return count(r);
    },
    pingInactive: async (k) =>
      count(await ns.ping(CLIENT_IP, ['-q', '-c', String(k), '-i', '0.2', '-W', '1'])),
    counts: () => {
      last = ns.counters(tap) ?? last;
      // The TAP's tx is what the kernel sent to the device; its rx what the device wrote.
      return { sent: last.txPackets - base.txPackets, received: last.rxPackets - base.rxPackets };
    },
    close: async () => {},
  };
}

/** Endpoint B on the wire: device, NDIS, miniport, call manager, pinging client. */
async function wirePeer(
  dev: Device,
  aDev: Device,
  aAdapter: MiniportAdapter,
  responder: PingResponder,
  aNdis: Ndis,
  guard: <T>(p: Promise<T>) => Promise<T>,
): Promise<Peer> {
  const ndis = new Ndis({ verifier: 'report', trace: false });
  const adapter = new MiniportAdapter(ndis, dev, { name: 'peer-miniport' });
  const pinger = WirePinger.open(ndis, adapter.handle, {
    vid: VID,
    ip: HOST_IP,
    mac: HOST_MAC,
    target: CLIENT_IP,
  });
  const st = await guard(pinger.start());
  if (st !== NDIS_STATUS_SUCCESS) throw new Error(`endpoint B: NdisClMakeCall: ${statusName(st)}`);
  const bVc = adapter.vcFor(pinger.vcHandle)!;
  /** One echo request at a time, like ping; each waits for its reply. */
  const paced = async (k: number): Promise<PingCount> => {
    if (!pinger.resolved) {
      pinger.arp();
      await guard(until(() => pinger.resolved, 'the ARP reply'));
    }
    const r0 = pinger.repliesReceived;
    for (let i = 0; i < k; i++) {
      pinger.echo(1);
      await guard(until(() => pinger.repliesReceived === r0 + i + 1, 'an echo reply'));
    }
    return { sent: k, answered: pinger.repliesReceived - r0 };
  };
  void aAdapter;
  return {
    ping: paced,
    underTraffic: async (deactivate) => {
      // B holds every reply: its receive ring runs dry and A's further replies stay in flight.
      const ring = bVc.pair!.rxPool.capacity;
      const burst = ring + 8;
      const r0 = pinger.repliesReceived;
      pinger.hold = true;
      pinger.echo(burst);
      await guard(
        until(
          () =>
            pinger.held.length === ring &&
            (aNdis.vcInfo(responder.vcHandle)?.txInMiniport ?? 0) === burst - ring &&
            responder.counters.echoReplies >= burst,
          "A's replies stalled on the wire",
        ),
      );
      deactivate();
      // B gives its buffers back in the next turn: the stalled replies go, the drain completes.
      await new Promise<void>((r) => setImmediate(r));
      pinger.hold = false;
      pinger.returnHeld();
      await guard(until(() => pinger.repliesReceived === r0 + burst, 'the stalled replies'));
      return { sent: burst, answered: pinger.repliesReceived - r0 };
    },
    pingInactive: async (k) => {
      const r0 = pinger.repliesReceived;
      const unbound = aDev.stats().rxUnboundVid;
      pinger.echo(k);
      await guard(until(() => aDev.stats().rxUnboundVid - unbound >= k, "A's device dropping the requests"));
      await guard(sleep(50));
      return { sent: k, answered: pinger.repliesReceived - r0 };
    },
    counts: () => ({ sent: bVc.counters.txCompleted, received: pinger.framesIn }),
    close: async () => {
      await guard(until(() => pinger.completed === pinger.given, "B's sends"));
      await guard(pinger.close());
      await guard(adapter.halt());
    },
  };
}

// -------------------------------------------------------------------------------------------------
// Report helpers

/** Copies every frame endpoint A's NDIS passes on the data path (both ways) into `pcap`. */
function capture(ndis: Ndis, pcap: PcapWriter): void {
  const put = (nbls: NetBufferList) => {
    for (let p: NetBufferList | null = nbls; p; p = p.next)
      for (let nb = p.firstNetBuffer; nb; nb = nb.next)
        pcap.capture(nb.buffer, nb.dataOffset, nb.dataLength, VID);
  };
  const send = ndis.coSendNetBufferLists.bind(ndis);
  ndis.coSendNetBufferLists = (vc, nbls, flags) => {
    put(nbls);
    send(vc, nbls, flags);
  };
  const indicate = ndis.mCoIndicateReceiveNetBufferLists.bind(ndis);
  ndis.mCoIndicateReceiveNetBufferLists = (vc, nbls, count, flags) => {
    put(nbls);
    indicate(vc, nbls, count, flags);
  };
}

/** NdisCmDeactivateVc (the first at or after `fromSeq`) to its completion, in µs. */
function drainLatencyUs(events: readonly TraceEvent[], slot: number, fromSeq: number): number {
  const start = events.find(
    (e) => e.seq >= fromSeq && e.vc === slot && e.kind === 'call' && e.name === 'NdisCmDeactivateVc',
  );
  if (!start) return Number.NaN;
  const end = deactivationEnd(events, slot, start);
  return end ? (end.time - start.time) * 1000 : Number.NaN;
}

/** Pended: ProtocolCmDeactivateVcComplete; else the return of NdisCmDeactivateVc itself. */
function deactivationEnd(
  events: readonly TraceEvent[],
  slot: number,
  start: TraceEvent,
): TraceEvent | undefined {
  return events.find(
    (e) =>
      e.seq > start.seq &&
      e.vc === slot &&
      ((e.kind === 'deliver' && e.name === 'ProtocolCmDeactivateVcComplete') ||
        (e.kind === 'return' && e.status !== undefined && e.status !== 'PENDING')),
  );
}

/**
 * Events of the diagram: the VC's control path (calls with their returns, handlers, completions,
 * states), the demo's step notes, and the data path only from NdisCmDeactivateVc of the
 * deactivation under traffic to its completion.
 */
function keptEvents(events: readonly TraceEvent[], slot: number, fromSeq: number): Set<number> {
  const start = events.find(
    (e) => e.seq >= fromSeq && e.vc === slot && e.kind === 'call' && e.name === 'NdisCmDeactivateVc',
  );
  const end = start ? deactivationEnd(events, slot, start) : undefined;
  const inDrain = (s: number) => start !== undefined && s >= start.seq && s <= (end?.seq ?? start.seq);
  const keep = new Set<number>();
  // Control calls return in LIFO order (the data path's calls return nothing).
  const calls: TraceEvent[] = [];
  for (const e of events) {
    if (e.kind === 'note') {
      if (e.name.startsWith('demo: ')) keep.add(e.seq);
    } else if (e.kind === 'return') {
      const c = calls.pop();
      // NdisCoCreateVc is traced before the VC has a slot; its return names the slot.
      if (c && (keep.has(c.seq) || e.vc === slot)) {
        keep.add(c.seq);
        keep.add(e.seq);
      }
    } else {
      if (e.kind === 'call' && !DATA_PATH.test(e.name)) calls.push(e);
      if (e.vc === slot && (!DATA_PATH.test(e.name) || inDrain(e.seq))) keep.add(e.seq);
    }
  }
  return keep;
}

/**
 * The sequence as lines: step notes as headers; each kept call, handler and completion by name
 * with the status it returned or carried; the data path outside the drain collapsed into
 * "(N data-path events)".
 */
function compactSequence(events: readonly TraceEvent[], keep: Set<number>, slot: number): string[] {
  // The status each kept call / handler returned.
  const result = new Map<number, string>();
  const open: TraceEvent[] = [];
  for (const e of events) {
    if (e.kind === 'call' && !DATA_PATH.test(e.name)) open.push(e);
    else if (e.kind === 'return') {
      const c = open.pop();
      if (c && e.status) result.set(c.seq, e.status);
    }
  }
  const handlers: TraceEvent[] = [];
  for (const e of events) {
    if (e.kind === 'handler') handlers.push(e);
    else if (e.kind === 'handler-return') {
      const h = handlers.pop();
      if (h && e.status) result.set(h.seq, e.status);
    }
  }
  const out: string[] = [];
  let skipped = 0;
  const flush = () => {
    if (skipped > 0) out.push(`  (${skipped} data-path events)`);
    skipped = 0;
  };
  for (const e of events) {
    if (e.kind === 'note' && keep.has(e.seq)) {
      flush();
      out.push(`# ${e.name.slice('demo: '.length)}`);
      continue;
    }
    if (e.kind !== 'call' && e.kind !== 'handler' && e.kind !== 'complete-call' && e.kind !== 'deliver')
      continue;
    if (keep.has(e.seq)) {
      flush();
      const r = result.get(e.seq);
      out.push(`  ${e.name}${e.status ? `(${e.status})` : ''}${r ? ` -> ${r}` : ''}`);
    } else if (e.vc === slot && DATA_PATH.test(e.name)) skipped++;
  }
  flush();
  return out;
}
