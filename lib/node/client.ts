/**
 * NodeClient: the node's CoNDIS client (a protocol driver on AF_CONDIS_SVC, the signalling call
 * manager's address family). It registers one SAP and accepts every call offered on it, places
 * calls to a peer's MAC on command, and on every call's VC answers ARP and ICMP echo (and echoes
 * frames of ETHERTYPE_CONDIS_ECHO) with a PingAnswerer of that call (lib/client/ping-answerer.ts,
 * the PingResponder's frame logic).
 *
 * NDIS flows it drives (spec §3):
 * - outgoing: NdisCoCreateVc, NdisClMakeCall (the call manager sends SETUP); on failure
 *   NdisCoDeleteVc (spec §1.2-E); a VID the callee refuses as taken (VC_NOT_AVAILABLE) is retried
 *   with the next one (vid.ts);
 * - incoming: ProtocolCoCreateVc (the call manager's NdisCoCreateVc), ProtocolClIncomingCall
 *   (accepted: SUCCESS), ProtocolClCallConnected; the call manager deletes the VC after the close;
 * - close: NdisClCloseCall once every send of ours on the VC is back (E31), then NdisCoDeleteVc of
 *   a VC we created; on ProtocolClIncomingCloseCall the same, from a later turn (the call manager
 *   starts its deactivation right after the indication; our close then completes with it).
 *
 * Receive filter: a VC's VID may also carry another pair's call in the same broadcast domain
 * (vid.ts), so only frames from the call's peer MAC, to our MAC or to broadcast, reach the
 * answerer and the pinger; the rest are counted (foreignFrames) and given back.
 *
 * Learning the peer's address: each end sends a gratuitous ARP on the VC once its call is up
 * (the caller when its make-call completes, the callee on ProtocolClCallConnected; both ends'
 * VCs are active by then), and any ARP from the peer on the VC tells us its IPv4 address: `ping`
 * needs no address from the user.
 */
import { PingAnswerer } from '../client/ping-answerer';
import { arpRequestFrame, arpSender } from '../client/requests';
import { AF_CONDIS_SVC, type CondisCallSpecific } from '../cm/call-control';
import { macToString, sameMac } from '../cm/signalling';
import { CondisError } from '../errors';
import { condisCallParameters, vidOf } from '../medium/params';
import type {
  NdisAfHandle,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisSapHandle,
  NdisVcHandle,
} from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import { makeNbl, NDIS_RECEIVE_FLAGS_RESOURCES, type NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_AVAILABLE,
  type NdisStatus,
  statusName,
} from '../ndis/status';
import type { CallDirection, NodeEvent } from './events';
import { MAX_VID_TRIES, nextVid, vidStart } from './vid';

/** IEEE 802 local experimental ethertype 2: the echo service's frames (signalling has 1, 0x88B5). */
export const ETHERTYPE_CONDIS_ECHO = 0x88b6;
/** maxSduSize of a call's VC, both ways: a full Ethernet payload. */
export const CALL_MAX_SDU = 1500;

export type CallPhase = 'calling' | 'offered' | 'connected' | 'closing' | 'closed';

/** A frame handed to a call's listeners (ring memory: valid during the call only; copy to keep). */
export type FrameListener = (b: Uint8Array, off: number, len: number) => void;

/** One call of the node (the client's ProtocolVcContext). */
export class NodeCall {
  vc = 0 as NdisVcHandle;
  vid = 0;
  peer: Uint8Array = new Uint8Array(6);
  phase: CallPhase;
  /** What answers on the VC (created with the VC handle). */
  answerer: PingAnswerer | null = null;
  /** The peer's IPv4 address, once an ARP of its told us. */
  peerIp: Uint8Array | null = null;
  /** Frames of the peer on this call, after the filter (the pinger's). */
  readonly listeners = new Set<FrameListener>();
  /** Our own sends (ARP announcements, pings) handed to NDIS and not completed. */
  readonly ownInFlight = new Set<NetBufferList>();
  /** Frames on the VC that were not from the peer to us: dropped. */
  foreignFrames = 0;
  /**
   * Non-null (`condis node hold`): every NBL the VC indicates is kept here, not returned (the
   * chains as indicated), until the call's close gives them back at its start (doClose), so a
   * close never waits for its own holding. Why hold at all: a peer's RELEASE makes the call
   * manager dispatch ProtocolClIncomingCloseCall and start NdisCmDeactivateVc in the same turn,
   * while our close runs a turn later (onIncomingClose): the deactivation finds the held receives
   * outstanding and pends until they come back (spec §2.4: the drain waits for every receive
   * indicated to a protocol), which is what `condis demo` shows.
   */
  held: NetBufferList[] | null = null;
  /** When the call connected (performance.now()). */
  setupMs = 0;
  closing: Promise<NdisStatus> | null = null;
  private waiters: (() => void)[] = [];

  constructor(
    readonly id: number,
    readonly dir: CallDirection,
  ) {
    this.phase = dir === 'out' ? 'calling' : 'offered';
  }

  get peerText(): string {
    return macToString(this.peer);
  }

  /** Wakes whoever waits for something of this call to change (pinger, close). */
  changed(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Resolves at the next change() (or at once when `ready` already holds), or after `ms`. */
  async until(ready: () => boolean, ms: number): Promise<boolean> {
    const end = performance.now() + ms;
    while (!ready()) {
      const left = end - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return true;
  }
}

export interface NodeClientOptions {
  mac: Uint8Array;
  ip: Uint8Array;
  sap: number;
  /** Every call event (stdout JSON lines in the CLI). */
  onEvent: (e: NodeEvent) => void;
}

/** What the client counted over its life. */
export class NodeClientCounters {
  callsMade = 0;
  callsFailed = 0;
  callsAccepted = 0;
  callsClosed = 0;
  vidRetries = 0;
  foreignFrames = 0;
  arpReplies = 0;
  echoReplies = 0;
  echoed = 0;
}

export class NodeClient {
  readonly counters = new NodeClientCounters();
  readonly calls = new Map<number, NodeCall>();
  private readonly binding: NdisBindingHandle;
  private readonly af: NdisAfHandle;
  private readonly sapHandle: NdisSapHandle;
  private nextId = 1;
  private stopping = false;
  private emptyWaiters: (() => void)[] = [];

  constructor(
    private readonly ndis: Ndis,
    miniport: NdisMiniportHandle,
    private readonly opts: NodeClientOptions,
  ) {
    const proto = ndis.registerProtocol('condis-node-client', {
      coSendNetBufferListsComplete: (ctx, nbls) => this.onSendComplete(ctx as NodeCall, nbls),
      coReceiveNetBufferLists: (_b, ctx, nbls, _n, flags) => this.onReceive(ctx as NodeCall, nbls, flags),
    });
    this.binding = ndis.openAdapter(proto, miniport, this);
    const af = ndis.clOpenAddressFamily(
      this.binding,
      AF_CONDIS_SVC,
      {
        // The call manager creates the VC of an incoming call with our AF (its NdisCoCreateVc).
        coCreateVc: (_afCtx, h) => {
          const c = this.newCall('in');
          this.attachVc(c, h);
          return { status: NDIS_STATUS_SUCCESS, context: c };
        },
        coDeleteVc: (ctx) => {
          this.forget(ctx as NodeCall);
          return NDIS_STATUS_SUCCESS;
        },
        clIncomingCall: (_sap, ctx, params) => this.onIncomingCall(ctx as NodeCall, params),
        clCallConnected: (ctx) => this.onCallConnected(ctx as NodeCall),
        clIncomingCloseCall: (status, ctx) => this.onIncomingClose(ctx as NodeCall, status),
      },
      this,
    );
    if (af.status !== NDIS_STATUS_SUCCESS || !af.afHandle) {
      ndis.closeAdapter(this.binding);
      throw new CondisError(
        'ERR_CONDIS_CALL_FAILED',
        `node client: NdisClOpenAddressFamilyEx failed: ${statusName(af.status)}`,
        { status: statusName(af.status) },
      );
    }
    this.af = af.afHandle;
    const sap = ndis.clRegisterSap(this.af, opts.sap, this);
    if (sap.status !== NDIS_STATUS_SUCCESS || !sap.sapHandle) {
      ndis.clCloseAddressFamily(this.af);
      ndis.closeAdapter(this.binding);
      throw new CondisError(
        'ERR_CONDIS_CALL_FAILED',
        `node client: NdisClRegisterSap(${opts.sap}) failed: ${statusName(sap.status)}`,
        { status: statusName(sap.status) },
      );
    }
    this.sapHandle = sap.sapHandle;
  }

  /** The call numbered `id`, or a coded error. */
  call(id: unknown): NodeCall {
    const c = typeof id === 'number' ? this.calls.get(id) : undefined;
    if (!c)
      throw new CondisError('ERR_CONDIS_NO_SUCH_CALL', `no call ${String(id)} on this node`, { call: id });
    return c;
  }

  /**
   * Places a call to `peer`'s SAP `sap` on `vid` (default: the first free one from vid.ts's start).
   * Resolves with the connected call; rejects with ERR_CONDIS_CALL_FAILED (`status`: the NDIS_STATUS
   * of the make-call, e.g. NDIS_STATUS_INVALID_SAP when nobody listens on that SAP).
   */
  async makeCall(peer: Uint8Array, sap: number, vid?: number): Promise<NodeCall> {
    if (this.stopping) throw new CondisError('ERR_CONDIS_INVALID_STATE', 'the node is stopping');
    const inUse = (v: number) => [...this.calls.values()].some((c) => c.vid === v && c.phase !== 'closed');
    const tried = new Set<number>();
    let start = vid ?? vidStart(this.opts.mac, peer);
    let last: NdisStatus = NDIS_STATUS_FAILURE;
    const c = this.newCall('out');
    c.peer = Uint8Array.from(peer);
    for (let attempt = 0; attempt < MAX_VID_TRIES; attempt++) {
      const v = vid ?? nextVid(start, (x) => !tried.has(x) && !inUse(x));
      if (v === undefined) break;
      tried.add(v);
      c.vid = v;
      c.phase = 'calling';
      const r = this.ndis.coCreateVc(this.binding, this.af, c);
      if (r.status !== NDIS_STATUS_SUCCESS || !r.vcHandle) {
        last = r.status;
        break;
      }
      this.attachVc(c, r.vcHandle);
      const params = condisCallParameters(v, { maxSduSize: CALL_MAX_SDU });
      params.callMgrParameters!.specific = { peer: c.peer, sap } satisfies CondisCallSpecific;
      const t0 = performance.now();
      last = await this.ndis.clMakeCallAsync(c.vc, params);
      if (last === NDIS_STATUS_SUCCESS) {
        c.setupMs = performance.now() - t0;
        this.counters.callsMade++;
        this.connected(c, params);
        return c;
      }
      this.ndis.coDeleteVc(c.vc);
      c.answerer = null;
      // The VID is taken at one end: the next one (a VID the user asked for is not changed).
      if (last !== NDIS_STATUS_VC_NOT_AVAILABLE || vid !== undefined) break;
      this.counters.vidRetries++;
      start = v + 1;
    }
    this.counters.callsFailed++;
    c.phase = 'closed';
    this.calls.delete(c.id);
    this.opts.onEvent({
      event: 'callFailed',
      call: c.id,
      vid: c.vid,
      peer: c.peerText,
      cause: statusName(last),
    });
    this.wakeEmpty();
    throw new CondisError(
      'ERR_CONDIS_CALL_FAILED',
      `call to ${c.peerText} SAP ${sap} failed: ${statusName(last)}`,
      { status: statusName(last), peer: c.peerText, sap, vid: c.vid },
    );
  }

  /**
   * Closes the call (NdisClCloseCall: RELEASE, RELEASE COMPLETE, the drain) once our sends on it
   * are back; deletes the VC if we created it. Resolves with the close status. Concurrent closes
   * share one.
   */
  close(c: NodeCall): Promise<NdisStatus> {
    if (c.closing) return c.closing;
    c.closing = this.doClose(c, 'local', NDIS_STATUS_SUCCESS);
    return c.closing;
  }

  /** Sends one frame of ours on the call (ARP, echo request). false if the call is not up. */
  send(c: NodeCall, frame: Uint8Array): boolean {
    if (c.phase !== 'connected') return false;
    const nbl = makeNbl(frame);
    nbl.sourceHandle = c.vc;
    c.ownInFlight.add(nbl);
    this.ndis.coSendNetBufferLists(c.vc, nbl, 0);
    return true;
  }

  /** Returns the receives `c` held (NodeCall.held) and stops holding. */
  returnHeld(c: NodeCall): void {
    const held = c.held ?? [];
    c.held = null;
    // One list, one NdisReturnNetBufferLists, as a driver returns what it queued: the chains as
    // indicated, linked head to tail.
    let head: NetBufferList | null = null;
    let tail: NetBufferList | null = null;
    for (const chain of held) {
      if (tail) tail.next = chain;
      else head = chain;
      tail = chain;
      while (tail.next) tail = tail.next;
    }
    if (head) this.ndis.returnNetBufferLists(this.binding, head, 0);
  }

  /**
   * Closes every call, waits until every VC is gone (the call manager deletes those it created
   * in a later turn), then deregisters the SAP, closes the AF and the binding. Idempotent.
   */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // A call still being made finishes first (its make-call completes either way), then closes.
    await Promise.allSettled(
      [...this.calls.values()].map(async (c) => {
        this.returnHeld(c);
        if (c.phase === 'calling' || c.phase === 'offered')
          await c.until(() => c.phase !== 'calling' && c.phase !== 'offered', 10_000);
        if (c.phase === 'connected') await this.close(c);
        else if (c.closing) await c.closing;
      }),
    );
    if (this.calls.size > 0) await new Promise<void>((r) => this.emptyWaiters.push(r));
    this.ndis.clDeregisterSap(this.sapHandle);
    await this.ndis.clCloseAddressFamilyAsync(this.af);
    this.ndis.closeAdapter(this.binding);
  }

  // ---------------------------------------------------------------------------------------------

  private newCall(dir: CallDirection): NodeCall {
    const c = new NodeCall(this.nextId++, dir);
    this.calls.set(c.id, c);
    return c;
  }

  private attachVc(c: NodeCall, h: NdisVcHandle): void {
    c.vc = h;
    c.answerer = new PingAnswerer(h, {
      ip: this.opts.ip,
      mac: this.opts.mac,
      replyBuffers: 32,
      echoEthertype: ETHERTYPE_CONDIS_ECHO,
    });
  }

  /** ProtocolClIncomingCall: accept every call on our SAP (SUCCESS; the call manager sends CONNECT). */
  private onIncomingCall(c: NodeCall, params: CoCallParameters): NdisStatus {
    if (this.stopping) return NDIS_STATUS_FAILURE;
    const spec = params.callMgrParameters?.specific as CondisCallSpecific | undefined;
    if (spec?.peer) c.peer = Uint8Array.from(spec.peer);
    c.vid = vidOf(params) ?? 0;
    c.answerer?.setMaxSdu(params.callMgrParameters?.transmit?.maxSduSize ?? 0);
    c.setupMs = performance.now();
    this.counters.callsAccepted++;
    this.opts.onEvent({
      event: 'incomingCall',
      call: c.id,
      vid: c.vid,
      peer: c.peerText,
      sap: spec?.sap ?? 0,
    });
    return NDIS_STATUS_SUCCESS;
  }

  /** ProtocolClCallConnected: the caller confirmed (CONNECT ACK); data may flow. */
  private onCallConnected(c: NodeCall): void {
    c.setupMs = performance.now() - c.setupMs;
    this.connected(c, null);
  }

  private connected(c: NodeCall, params: CoCallParameters | null): void {
    if (params) c.answerer?.setMaxSdu(params.callMgrParameters?.transmit?.maxSduSize ?? 0);
    c.phase = 'connected';
    this.opts.onEvent({ event: 'callConnected', call: c.id, vid: c.vid, peer: c.peerText, dir: c.dir });
    // Announce our address on the VC: the peer learns it from this ARP (see the file comment).
    this.send(c, arpRequestFrame(this.opts.mac, this.opts.ip, this.opts.ip));
    c.changed();
  }

  /** ProtocolClIncomingCloseCall: the peer released (or the timers gave up); close from a later turn. */
  private onIncomingClose(c: NodeCall, status: NdisStatus): void {
    if (c.closing) return;
    c.phase = 'closing';
    c.closing = new Promise<void>((r) => setImmediate(r)).then(() => this.doClose(c, 'peer', status));
  }

  private async doClose(c: NodeCall, by: 'local' | 'peer', cause: NdisStatus): Promise<NdisStatus> {
    c.phase = 'closing';
    this.returnHeld(c);
    c.changed();
    // E31: no send of ours may be outstanding at NdisClCloseCall.
    await c.until(() => c.ownInFlight.size === 0, 10_000);
    await c.answerer?.whenIdle();
    const st = await this.ndis.clCloseCallAsync(c.vc);
    if (st !== NDIS_STATUS_SUCCESS) {
      // K13: a failed close leaves the call as it was.
      c.phase = 'connected';
      c.closing = null;
      return st;
    }
    c.phase = 'closed';
    this.counters.callsClosed++;
    this.opts.onEvent({
      event: 'callClosed',
      call: c.id,
      vid: c.vid,
      peer: c.peerText,
      dir: c.dir,
      by,
      cause: statusName(cause),
    });
    c.changed();
    // Ours to delete; the call manager deletes the VC of an incoming call itself.
    if (c.dir === 'out') {
      this.ndis.coDeleteVc(c.vc);
      this.forget(c);
    }
    return st;
  }

  /** The VC is gone: the call leaves the table. */
  private forget(c: NodeCall): void {
    const a = c.answerer?.counters;
    if (a) {
      this.counters.arpReplies += a.arpReplies;
      this.counters.echoReplies += a.echoReplies;
      this.counters.echoed += a.echoed;
    }
    this.counters.foreignFrames += c.foreignFrames;
    c.phase = 'closed';
    this.calls.delete(c.id);
    this.wakeEmpty();
  }

  private wakeEmpty(): void {
    if (this.calls.size > 0) return;
    const ws = this.emptyWaiters;
    this.emptyWaiters = [];
    for (const w of ws) w();
  }

  // ---------------------------------------------------------------------------------------------
  // Data path

  /**
   * ProtocolCoReceiveNetBufferLists: frames of the peer to us go to the listeners and the
   * answerer; every NBL goes back before returning (unless RESOURCES); replies go as one list.
   */
  private onReceive(c: NodeCall, nbls: NetBufferList, flags: number): void {
    const a = c.answerer;
    const answering = c.phase === 'connected';
    const head = a ? a.answerAll(nbls, answering, (b, off, len) => this.accept(c, b, off, len)) : null;
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) {
      if (c.held) c.held.push(nbls);
      else this.ndis.returnNetBufferLists(this.binding, nbls, 0);
    }
    if (head !== null) this.ndis.coSendNetBufferLists(c.vc, head, 0);
  }

  /** The receive filter (see the file comment); learns the peer's address; feeds the listeners. */
  private accept(c: NodeCall, b: Uint8Array, off: number, len: number): boolean {
    const toUs = len >= 14 && (sameMac(b.subarray(off, off + 6), this.opts.mac) || isBroadcastAt(b, off));
    if (!toUs || !sameMac(b.subarray(off + 6, off + 12), c.peer)) {
      c.foreignFrames++;
      return false;
    }
    const arp = arpSender(b, off, len);
    if (arp && sameMac(arp.mac, c.peer)) c.peerIp = arp.ip;
    for (const l of c.listeners) l(b, off, len);
    c.changed();
    return true;
  }

  /** ProtocolCoSendNetBufferListsComplete: our own frames, or the answerer's replies. */
  private onSendComplete(c: NodeCall, nbls: NetBufferList): void {
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      p.next = null;
      if (!c.ownInFlight.delete(p)) c.answerer?.complete(p);
      p = next;
    }
    c.changed();
  }
}

function isBroadcastAt(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 6; i++) if (b[off + i] !== 0xff) return false;
  return true;
}
