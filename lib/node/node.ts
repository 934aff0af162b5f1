/**
 * CondisNode: one condis-tap host as a long-running process (issue 14, `condis node`): a TAP
 * (created by name, IPv6 off, brought up), the NDIS runtime, the reference miniport on it, the
 * signalling call manager of lib/cm, and the node's client (client.ts) with one SAP. The control
 * socket (control.ts) and the CLI (lib/cli/node.ts) drive it through the methods below.
 *
 * Why the stand-alone call manager (CondisCallManager), not the MCM: the node's point is to run
 * the reference miniport unchanged under a call manager a person can read and replace, with
 * every step NDIS-visible (NdisCmActivateVc -> MiniportCoActivateVc with its drain, the
 * signalling VC an ordinary VC on VID 0) — the layering a prototyped Windows call manager has.
 * The MCM folds the call manager into the miniport and drives pair 0 itself; same wire protocol,
 * so an MCM node could call a CM node, but it is not what this process demonstrates.
 *
 * Wiring (onDevice, shared with `condis demo` and `condis bench calls`, which also run nodes on
 * the in-process wire): openQuietTap (shared with the tests); `new Ndis`, `new MiniportAdapter`,
 * the call manager, the client. The verifier reports (counted in status()).
 *
 * Watching a node (`condis node --trace`, the control socket's trace, hold and calls): the trace
 * then on, bounded (NODE_TRACE_CAPACITY), read by sequence number; a call's receives held
 * (NodeCall.held), so that the peer's RELEASE finds them outstanding and the deactivation pends
 * on them; and the last ENDED_CALLS ended calls, each with its VC's frame counters and its
 * deactivation (DeactivationRecord).
 *
 * Stop (SIGINT, SIGTERM, `shutdown`): every call closed with RELEASE and drained, every VC
 * deleted (NodeClient.shutdown), the signalling VC closed, the miniport halted (it checks that no
 * VC is left), the device closed (the TAP goes with it).
 */
import { parseIpv4Address } from '../client/ipv4';
import { CondisCallManager } from '../cm/call-manager';
import type { Device } from '../device/device';
import { parseMac } from '../device/options';
import { CondisError } from '../errors';
import { openQuietTap } from '../host/quiet-tap';
import { MiniportAdapter } from '../miniport/adapter';
import type { MiniportVc } from '../miniport/vc';
import type { NdisVcHandle } from '../ndis/actors';
import { nblCount } from '../ndis/nbl';
import { type DeactivationRecord, Ndis, type NdisOptions } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, statusName } from '../ndis/status';
import type { TraceEvent } from '../ndis/trace';
import { type PingResult, pingOverCall } from './call-pinger';
import { type NodeCall, NodeClient } from './client';
import type { NodeEvent } from './events';
import type { ResolvedNodeOptions } from './options';

/** A row of `calls`. */
export interface CallRow {
  call: number;
  vid: number;
  peer: string;
  state: string;
  dir: 'out' | 'in';
  peerIp: string | null;
  /** Frames on the call's VID that were not from its peer to us (another pair's), dropped. */
  foreignFrames: number;
  /** Receives held (`hold`): NBLs, each of every indicated chain; 0 when not holding. */
  held: number;
  /** The NDIS slot of the call's VC (the `vc` of its trace events); -1 if it has none now. */
  slot: number;
}

/** A row of `calls`' `ended`: what a finished call did. */
export interface EndedCall {
  call: number;
  vid: number;
  peer: string;
  dir: 'out' | 'in';
  by: 'local' | 'peer';
  /** The NDIS_STATUS name of why it ended (SUCCESS for a normal release). */
  cause: string;
  /** The NDIS slot its VC had (-1 if unknown). */
  slot: number;
  /**
   * The miniport's counters of the call's VC when the close completed: `sent` NBLs whose send
   * completed SUCCESS (txCompleted), `received` NBLs indicated up (rxIndicated).
   */
  frames: { sent: number; received: number };
  /**
   * The last deactivation of its VC (DeactivationRecord): what was in flight at its begin (sends
   * in the miniport, receives held by protocols), begin to completion in µs (0.1 µs), its status.
   * null if NDIS ran none (a call that never activated).
   */
  deactivation: { sends: number; receives: number; drainUs: number; status: string } | null;
}

/** What `trace` answers: the events from `since` on, and the seq to ask from next. */
export interface TraceSlice {
  enabled: true;
  events: TraceEvent[];
  next: number;
  /** Events at or after `since` that the ring had already dropped (the poller fell behind). */
  dropped: number;
}

/** What the node keeps about a live call for its EndedCall row (the VC is gone by then). */
interface Tracked {
  vc: NdisVcHandle;
  slot: number;
  miniportVc: MiniportVc | undefined;
  deactivation: DeactivationRecord | null;
}

/**
 * One condis-tap host: a device (a TAP it creates, or one handed to onDevice), the NDIS runtime,
 * the reference miniport, the signalling call manager and the node's client with one SAP.
 * `condis node` is this class behind a control socket; its methods are the socket's requests.
 *
 *   const node = await CondisNode.open(resolveNodeOptions({ tap: 'tap0' }), console.log);
 *   const { call } = await node.call('02:cc:00:00:00:02', 1);
 */
export class CondisNode {
  private stopping: Promise<void> | null = null;
  /** The last ENDED_CALLS ended calls, oldest first. */
  readonly ended: EndedCall[] = [];
  private readonly tracked = new Map<number, Tracked>();
  private unsubscribe: () => void = () => {};

  private constructor(
    readonly opts: ResolvedNodeOptions,
    readonly device: Device,
    readonly ndis: Ndis,
    readonly adapter: MiniportAdapter,
    readonly cm: CondisCallManager,
    readonly client: NodeClient,
  ) {}

  /** Opens the TAP and brings up the stack; on failure, removes what it made and rethrows. */
  static open(opts: ResolvedNodeOptions, onEvent: (e: NodeEvent) => void): Promise<CondisNode> {
    // IPv6 off before it goes up: the kernel's own frames (MLD, router solicitations) would
    // reach the signalling VC on pair 0 as noise.
    const device = openQuietTap({ name: opts.tap, queuePairs: opts.queuePairs, queueSize: NODE_QUEUE_SIZE });
    return CondisNode.onDevice(device, opts, onEvent);
  }

  /**
   * Brings up the node's stack on a device opened by the caller (it must have opts.queuePairs
   * pairs), which the node then owns: closed by stop(), destroyed if this fails. open() passes its
   * TAP; `condis bench calls` passes the ends of an in-process wire (openWirePair), so its wire
   * path runs exactly this wiring with nothing of the host in between. opts.tap is then only a
   * label (status()). `ndisOptions`: `condis demo` records each node's trace (the NDIS sequence of
   * both sides) and observes one's data path (its pcap); a node process records its trace only
   * with opts.trace (--trace). Either turns the trace on: ndisOptions.trace as given (true: Ndis's
   * default capacity), else opts.trace with NODE_TRACE_CAPACITY.
   */
  static async onDevice(
    device: Device,
    opts: ResolvedNodeOptions,
    onEvent: (e: NodeEvent) => void,
    ndisOptions: Pick<NdisOptions, 'trace' | 'observer'> = { trace: false },
  ): Promise<CondisNode> {
    let adapter: MiniportAdapter | null = null;
    let cm: CondisCallManager | null = null;
    try {
      const trace = ndisOptions.trace || (opts.trace ? NODE_TRACE_CAPACITY : false);
      const ndis = new Ndis({ verifier: 'report', ...ndisOptions, trace });
      adapter = new MiniportAdapter(ndis, device, { name: 'condis-miniport' });
      cm = new CondisCallManager(ndis, adapter.handle, {
        mac: opts.mac,
        keepaliveMs: opts.keepaliveMs,
        keepaliveMisses: opts.keepaliveMisses,
      });
      await cm.start();
      // The node hears the client's events first (its ended-call rows), then the caller does.
      let node: CondisNode | null = null;
      const client = new NodeClient(ndis, adapter.handle, {
        mac: opts.mac,
        ip: opts.ip,
        sap: opts.sap,
        onEvent: (e) => {
          node?.observe(e);
          onEvent(e);
        },
      });
      node = new CondisNode(opts, device, ndis, adapter, cm, client);
      const n = node;
      n.unsubscribe = ndis.onDeactivation((rec) => n.onDeactivation(rec));
      return n;
    } catch (e) {
      await cm?.stop().catch(() => {});
      await adapter?.halt().catch(() => {});
      device.destroy();
      throw e;
    }
  }

  /** `call`: a call to `peer` (MAC text) on its SAP `sap`. */
  async call(
    peer: unknown,
    sap: unknown,
    vid?: unknown,
  ): Promise<{ call: number; vid: number; setupMs: number }> {
    if (typeof peer !== 'string')
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'call: "peer" must be a MAC');
    const mac = parseMac(peer);
    const s = sap === undefined ? this.opts.sap : sap;
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s > 0xffffffff)
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'call: "sap" must be a whole number');
    if (vid !== undefined && (typeof vid !== 'number' || !Number.isInteger(vid) || vid < 1 || vid > 4094))
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'call: "vid" must be from 1 to 4094');
    const c = await this.client.makeCall(mac, s, vid as number | undefined);
    return { call: c.id, vid: c.vid, setupMs: round(c.setupMs) };
  }

  /** `ping`: `count` echo requests to the peer of call `call` (or to `ip`). */
  ping(call: unknown, count: unknown, ip?: unknown): Promise<PingResult> {
    const c = this.client.call(call);
    const n = count === undefined ? 3 : count;
    if (typeof n !== 'number')
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'ping: "count" must be a number');
    if (ip !== undefined && typeof ip !== 'string')
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'ping: "ip" must be a dotted quad');
    return pingOverCall(
      this.client,
      c,
      this.opts.mac,
      this.opts.ip,
      n,
      ip === undefined ? undefined : parseIpv4Address(ip),
    );
  }

  /** `close`: RELEASE and drain; drainMs is the close, NdisClCloseCall to its completion. */
  async close(call: unknown): Promise<{ drainMs: number }> {
    const c = this.client.call(call);
    const t0 = performance.now();
    const st = await this.client.close(c);
    if (st !== NDIS_STATUS_SUCCESS)
      throw new CondisError('ERR_CONDIS_CALL_FAILED', `close of call ${c.id}: ${statusName(st)}`, {
        status: statusName(st),
      });
    return { drainMs: round(performance.now() - t0) };
  }

  calls(): CallRow[] {
    return [...this.client.calls.values()].map((c) => ({
      call: c.id,
      vid: c.vid,
      peer: c.peerText,
      state: c.phase,
      dir: c.dir,
      peerIp: c.peerIp ? c.peerIp.join('.') : null,
      foreignFrames: c.foreignFrames,
      held: heldCount(c),
      slot: this.ndis.vcInfo(c.vc)?.slot ?? -1,
    }));
  }

  /**
   * `hold`: keep every receive the call's VC indicates from now on (NodeCall.held), still
   * answering them, until the call closes (NodeCall.held). Returns the NBLs held now.
   */
  hold(call: unknown): { call: number; held: number } {
    const c = this.client.call(call);
    if (c.phase !== 'connected')
      throw new CondisError('ERR_CONDIS_INVALID_STATE', `hold: call ${c.id} is ${c.phase}, not connected`);
    c.held ??= [];
    return { call: c.id, held: heldCount(c) };
  }

  /**
   * `trace`: the trace's events with seq >= `since` (default 0), oldest first, at most `max`
   * (default: all); `next` is the seq to ask from next time (the last one's + 1, or `since`).
   */
  traceSince(since: unknown, max?: unknown): TraceSlice {
    const t = this.ndis.trace;
    if (!t)
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        'trace: this node does not record its trace; start it with --trace (the nodes of a cluster: condis cluster up N --node-args=--trace)',
      );
    const from = since === undefined ? 0 : since;
    if (typeof from !== 'number' || !Number.isInteger(from) || from < 0)
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'trace: "since" must be a whole number >= 0');
    if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1))
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'trace: "max" must be a whole number >= 1');
    const all = t.events;
    // Sequence numbers are consecutive in the ring (clear() only empties it): index by offset.
    const first = all.length > 0 ? all[0]!.seq : from;
    const start = Math.min(all.length, Math.max(0, from - first));
    const events = all.slice(start, max === undefined ? undefined : start + (max as number));
    const last = events[events.length - 1];
    return {
      enabled: true,
      events,
      next: last ? last.seq + 1 : from,
      dropped: all.length > 0 && from < first ? first - from : 0,
    };
  }

  /**
   * `mark`: writes `text` into the trace as a note (seq returned), so whoever drives the node can
   * find its steps in the trace (condis demo's `# step` headers). Needs --trace.
   */
  mark(text: unknown): { seq: number } {
    const t = this.ndis.trace;
    if (!t)
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        'mark: this node does not record its trace; start it with --trace (the nodes of a cluster: condis cluster up N --node-args=--trace)',
      );
    if (typeof text !== 'string' || text.length === 0 || text.length > 200)
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'mark: "text" must be a string of 1 to 200 characters');
    t.record({ kind: 'note', from: 'Client', to: 'Client', name: text });
    return { seq: t.last()!.seq };
  }

  /** `status`: the node's counters. */
  status(): Record<string, unknown> {
    const st = this.cm.stats;
    const dev = this.device.stats();
    return {
      tap: this.opts.tap,
      mac: this.opts.macText,
      sap: this.opts.sap,
      ip: this.opts.ipText,
      pid: process.pid,
      calls: this.client.calls.size,
      maxCalls: this.opts.queuePairs - 1,
      client: { ...this.client.counters },
      signalling: {
        sent: { ...st.sent },
        received: { ...st.received },
        retransmits: st.retransmits,
        timeouts: st.timeouts,
        livenessClears: st.livenessClears,
        staleClears: st.staleClears,
        unknownRefs: st.unknownRefs,
        malformed: st.malformed,
        notForUs: st.notForUs,
      },
      device: { rxUnboundVid: dev.rxUnboundVid },
      vcs: this.ndis.vcCount,
      verifierViolations: this.ndis.verifier.violations.length,
    };
  }

  /** Closes every call, drains and deletes every VC, closes the device. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.client.shutdown();
      await this.cm.stop();
      await this.adapter.halt();
      this.unsubscribe();
    })();
    return this.stopping;
  }

  // ---------------------------------------------------------------------------------------------
  // Ended calls

  /** A client event: a call's VC is noted while it lives; a closed call becomes an ended row. */
  private observe(e: NodeEvent): void {
    if (e.event === 'incomingCall' || e.event === 'callConnected') this.track(e.call);
    else if (e.event === 'callClosed') {
      const t = this.tracked.get(e.call);
      this.tracked.delete(e.call);
      const c = t?.miniportVc?.counters;
      const d = t?.deactivation;
      this.ended.push({
        call: e.call,
        vid: e.vid,
        peer: e.peer,
        dir: e.dir,
        by: e.by,
        cause: e.cause,
        slot: t?.slot ?? -1,
        frames: { sent: c?.txCompleted ?? 0, received: c?.rxIndicated ?? 0 },
        deactivation: d
          ? {
              sends: d.inFlight.sends,
              receives: d.inFlight.receives,
              // Ndis clock milliseconds -> µs, to 0.1 µs.
              drainUs: Math.round((d.completed - d.begin) * 10_000) / 10,
              status: statusName(d.status),
            }
          : null,
      });
      if (this.ended.length > ENDED_CALLS) this.ended.shift();
    } else if (e.event === 'callFailed') this.tracked.delete(e.call);
  }

  /**
   * Notes the call's VC, its slot and the miniport's context of it, whose counters (cumulative,
   * readonly) outlive the VC. Read at callClosed they are the VC's final ones; they cannot be
   * looked up then: an incoming call's VC is gone by that event (the call manager's
   * NdisCoDeleteVc, a scheduled microtask after ProtocolClCloseCallComplete, runs before the
   * client's code after its `await` of the close) and so is its NodeCall; an outgoing call's VC
   * still exists (the client deletes it right after the event).
   */
  private track(id: number): void {
    if (this.tracked.has(id)) return;
    const c = this.client.calls.get(id);
    if (!c) return;
    this.tracked.set(id, {
      vc: c.vc,
      slot: this.ndis.vcInfo(c.vc)?.slot ?? -1,
      miniportVc: this.adapter.vcFor(c.vc),
      deactivation: null,
    });
  }

  /** Keeps the last deactivation record of each live call's VC (the client's handle, options.ts). */
  private onDeactivation(rec: DeactivationRecord): void {
    for (const t of this.tracked.values()) if (t.vc === rec.vcHandle) t.deactivation = rec;
  }
}

/**
 * The trace's capacity in a node process with --trace: a ping is some 20 events on each side
 * (send, its completion, the receive and its return, with their returns), a call's setup and
 * close some 60, so 50,000 events hold minutes of a person's pings and calls, some 10-20 MB; the
 * ring drops the oldest first, so a node that runs for days stays bounded. A poller (trace
 * `since`) reads them before they go. Ndis's own default (100,000) is for a run that ends.
 */
export const NODE_TRACE_CAPACITY = 50_000;

/** How many ended calls `calls` keeps (the oldest dropped first). */
export const ENDED_CALLS = 32;

/** Descriptors per queue of a node's device (a call's VC carries pings and echoes, not bulk). */
export const NODE_QUEUE_SIZE = 256;

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** The NBLs a call holds (`hold`): each NBL of every indicated chain, 0 when not holding. */
function heldCount(c: NodeCall): number {
  return c.held ? c.held.reduce((n, head) => n + nblCount(head), 0) : 0;
}
