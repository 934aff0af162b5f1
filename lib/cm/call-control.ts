/**
 * Call control: the signalling engine shared by the stand-alone call manager (call-manager.ts) and
 * the MCM (mcm.ts). It implements the call manager's NDIS handlers (NDIS_CO_CALL_MANAGER_OPTIONAL_
 * HANDLERS) and the protocol of signalling.ts; the NDIS requests that differ between the two
 * (NdisCm* against NdisMCm*, NdisCoCreateVc against NdisMCmCreateVc...) are the abstract methods
 * a variant fills in.
 *
 * Flows (spec §3):
 * - outgoing call (3.1): ProtocolCmMakeCall sends SETUP and pends; CONNECT -> activate the VC ->
 *   CONNECT ACK and make-call complete (SUCCESS only once active, E21); RELEASE COMPLETE or T303
 *   expiry -> make-call fails (the client then deletes its VC);
 * - incoming call (3.8): SETUP -> create the VC with the client's AF from its SAP registration ->
 *   activate -> dispatch the incoming call; accept -> CONNECT; CONNECT ACK -> call connected;
 *   reject -> RELEASE COMPLETE, deactivate, delete;
 * - client-initiated close (3.2): ProtocolCmCloseCall sends RELEASE and pends; RELEASE COMPLETE
 *   (or T308 expiry) -> deactivate (the drain) -> close complete from the deactivation's completion;
 * - network-initiated close (3.3): RELEASE -> dispatch the incoming close and deactivate at once;
 *   the client's NdisClCloseCall then pends until the deactivation completes; RELEASE COMPLETE
 *   goes out once the call is closed; a VC this call manager created is then deleted.
 *
 * Why the clearing side deactivates only after RELEASE COMPLETE (Q.931 §5.3: the channel is
 * released on RELEASE COMPLETE): until the peer confirms, it may still have frames in flight
 * towards us, and over condis-tap's wire or a flow-controlled link they would be stranded if we
 * unbound the VID first; the VC id is also not free for another call before both ends let go.
 * Why the released side deactivates at once: the peer has let go of the VC id; nothing it sends
 * on the VC is wanted any more, and the client's close only has to wait for the drain.
 *
 * Liveness (Q.931 §5.8.10's STATUS ENQUIRY under T322, reduced): a peer that dies without RELEASE
 * (killed, its link cut) would otherwise leave its calls connected here for ever. While a call is
 * Active, every `keepaliveMs` the caller's end sends STATUS ENQUIRY; the peer answers STATUS. The
 * callee's end probes only when it has heard nothing of the call for 1.5 x keepaliveMs (each
 * enquiry it gets restarts that wait), so an idle call costs one enquiry and one answer per
 * interval, and a dead caller is still noticed by the callee. Any message of the call from the
 * peer counts as an answer (its own STATUS ENQUIRY too). When
 * `keepaliveMisses` enquiries in a row went unanswered, at the next tick the call is cleared here
 * as if the peer had released it: the incoming close is dispatched with
 * NDIS_STATUS_DEST_OUT_OF_ORDER (the status this engine already gives a peer that vanished, T313
 * and T303 expiry; NDIS's name for "the remote end is unreachable"), the VC deactivated (the
 * drain) and, if this call manager created it, deleted; RELEASE COMPLETE (cause 102, recovery on
 * timer expiry) goes out once the close is done, for a peer that was only cut off. So a dead peer
 * is noticed within (keepaliveMisses + 1) x keepaliveMs by the caller's end (default 4 s) and
 * (keepaliveMisses + 1.5) x keepaliveMs by the callee's (4.5 s), and a cut shorter than
 * keepaliveMisses x keepaliveMs never clears a call.
 * A peer that restarted knows none of its old calls: it answers their STATUS ENQUIRY (and any other
 * message for them) with RELEASE COMPLETE, cause 81 "invalid call reference", and a RELEASE
 * COMPLETE on an Active call clears it here the same way (DEST_OUT_OF_ORDER for cause 81). Call
 * references start at a random value per CallControl (firstCallRef), so a restarted node's new
 * calls do not reuse the references of its old ones; should one still collide (a SETUP from a
 * peer whose call with that reference is Active here, which a live peer never sends: it only
 * repeats SETUP before it got CONNECT), the old call is stale: it is cleared here without a
 * message (the peer would take one for an answer to its new SETUP) and the SETUP dropped, so the
 * caller's T303 retransmission finds the reference free.
 *
 * Received frames are decoded at once (a copy) and handled in a later scheduler turn, never on
 * the data path's stack (the miniport's interrupt harvest, NDIS's receive indication).
 * Timers come from an injected Clock; nothing polls.
 */

import { CondisError } from '../errors';
import { UNTAGGED_VID, vidOf } from '../medium/params';
import type {
  AddressFamily,
  CallManagerHandlers,
  ContextResult,
  NdisAfHandle,
  NdisSapHandle,
  NdisVcHandle,
} from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import type { Clock } from '../ndis/clock';
import type { Ndis } from '../ndis/ndis';
import {
  NDIS_STATUS_DEST_OUT_OF_ORDER,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_INVALID_SAP,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_AVAILABLE,
  type NdisStatus,
} from '../ndis/status';
import { CallState, CmVc, q931CallState } from './call';
import type { SignallingChannel } from './channel';
import {
  BROADCAST_MAC,
  Cause,
  calleeParameters,
  decodeMessage,
  encodeMessage,
  isBroadcast,
  MAX_CALL_REF,
  MessageType,
  macToString,
  messageTypeName,
  paramsBlockOf,
  type SetupMessage,
  type SignallingMessage,
  sameMac,
} from './signalling';

/** The address family of switched condis-tap calls (CO_ADDRESS_FAMILY; a private number). */
export const AF_CONDIS_SVC = 0xc0d2;

/**
 * CO_CALL_MANAGER_PARAMETERS.Specific of a switched call. On an outgoing call the client may name
 * the peer (default: the call manager's configured peer, else a broadcast SETUP) and the called
 * SAP (default 0: the peer's first SAP). On an incoming call the call manager fills in who called.
 */
export interface CondisCallSpecific {
  peer?: Uint8Array;
  sap?: number;
}

export interface CallControlOptions {
  /** This endpoint's MAC (source of every signalling frame; frames to other unicast MACs are ignored). */
  mac: Uint8Array;
  /** Where SETUP goes when the client names no peer; broadcast when absent. */
  peerMac?: Uint8Array;
  /** Address family registered (default AF_CONDIS_SVC). */
  af?: AddressFamily;
  /** Timers (default: the NDIS runtime's clock). */
  clock?: Clock;
  /** T303 / T313 / T308: how long a SETUP, CONNECT or RELEASE waits for its answer (default 1000 ms). */
  retransmitMs?: number;
  /** Retransmissions before the timer's expiry counts as final (default 3). */
  maxRetransmits?: number;
  /**
   * Liveness of an Active call: STATUS ENQUIRY every keepaliveMs (default 1000: a LAN answers in
   * well under a millisecond, so 1 s tolerates a loaded host; 0 turns liveness off).
   */
  keepaliveMs?: number;
  /** Unanswered STATUS ENQUIRYs in a row after which the call is cleared at the next tick (default 3). */
  keepaliveMisses?: number;
  /** First call reference this end allocates (1..32767; default: random, fresh per start). */
  firstCallRef?: number;
  /**
   * On RELEASE, deactivate the VC at once (default) or only when the client answers the incoming
   * close with NdisClCloseCall (what spec E35 describes for NDIS itself).
   */
  deactivateOnRelease?: boolean;
  /** Test seam: return false to drop a message (a lossy link). Called before send / after decode. */
  filter?: (direction: 'tx' | 'rx', message: SignallingMessage) => boolean;
}

/** A client's open address family, as the call manager sees it (CallMgrAfContext). */
export class CmAf {
  constructor(readonly handle: NdisAfHandle) {}
}

/** A registered SAP (CallMgrSapContext): the number the client listens on. */
export class CmSap {
  constructor(
    readonly af: CmAf,
    readonly sap: number,
    readonly handle: NdisSapHandle,
  ) {}
}

type Counters = Record<keyof typeof MessageType, number>;
const zero = (): Counters => ({
  SETUP: 0,
  CONNECT: 0,
  CONNECT_ACK: 0,
  RELEASE: 0,
  RELEASE_COMPLETE: 0,
  STATUS_ENQUIRY: 0,
  STATUS: 0,
});

/** What the engine counted (tests check exact numbers). */
export class SignallingStats {
  readonly sent: Counters = zero();
  readonly received: Counters = zero();
  /** Messages the filter dropped, by direction. */
  droppedTx = 0;
  droppedRx = 0;
  /** Frames that were not valid signalling messages, or not for us. */
  malformed = 0;
  notForUs = 0;
  /** Messages sent again on a timer, and timers that expired for good. */
  retransmits = 0;
  timeouts = 0;
  /** Active calls cleared here because their STATUS ENQUIRYs went unanswered. */
  livenessClears = 0;
  /** Active calls cleared by the peer's RELEASE COMPLETE (a restarted peer's cause 81) or a stale SETUP. */
  staleClears = 0;
  /** Messages for an unknown call reference answered with RELEASE COMPLETE (cause 81). */
  unknownRefs = 0;
}

export abstract class CallControl {
  readonly stats = new SignallingStats();
  readonly mac: Uint8Array;
  readonly af: AddressFamily;
  /** Every VC the call manager has a context for. */
  readonly vcs = new Set<CmVc>();
  protected readonly clock: Clock;
  protected readonly retransmitMs: number;
  protected readonly maxRetransmits: number;
  protected readonly keepaliveMs: number;
  protected readonly keepaliveMisses: number;
  private readonly opts: CallControlOptions;
  private readonly saps = new Set<CmSap>();
  /** Calls we originated, by call reference; calls the peer originated, by "mac/ref". */
  private readonly outgoing = new Map<number, CmVc>();
  private readonly incoming = new Map<string, CmVc>();
  /** VC ids carried by a call (one call per VID on this endpoint). */
  private readonly vids = new Map<number, CmVc>();
  private nextRef: number;
  private stopped = false;

  protected constructor(
    readonly ndis: Ndis,
    opts: CallControlOptions,
  ) {
    this.opts = opts;
    this.mac = Uint8Array.from(opts.mac);
    this.af = opts.af ?? AF_CONDIS_SVC;
    this.clock = opts.clock ?? ndis.clock;
    this.retransmitMs = opts.retransmitMs ?? 1000;
    this.maxRetransmits = opts.maxRetransmits ?? 3;
    this.keepaliveMs = opts.keepaliveMs ?? 1000;
    this.keepaliveMisses = opts.keepaliveMisses ?? 3;
    const first = opts.firstCallRef ?? randomCallRef();
    if (!Number.isInteger(first) || first < 1 || first > MAX_CALL_REF)
      throw new CondisError('ERR_CONDIS_INVALID_ARG', `firstCallRef must be from 1 to ${MAX_CALL_REF}`, {
        firstCallRef: first,
      });
    if (!Number.isInteger(this.keepaliveMs) || this.keepaliveMs < 0)
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'keepaliveMs must be a whole number >= 0', {
        keepaliveMs: this.keepaliveMs,
      });
    if (!Number.isInteger(this.keepaliveMisses) || this.keepaliveMisses < 1)
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'keepaliveMisses must be a whole number >= 1', {
        keepaliveMisses: this.keepaliveMisses,
      });
    this.nextRef = first;
  }

  // ---------------------------------------------------------------------------------------------
  // What a variant provides: the NDIS requests of a stand-alone CM (NdisCm*, NdisCo*) or an MCM.

  /** The signalling channel (set by the variant before traffic starts). */
  abstract readonly channel: SignallingChannel;
  /** NdisCoCreateVc / NdisMCmCreateVc for an incoming call; sets `v.handle` on SUCCESS. */
  protected abstract createVc(af: CmAf, v: CmVc): NdisStatus;
  /** NdisCoDeleteVc / NdisMCmDeleteVc of a VC this call manager created. */
  protected abstract deleteVc(v: CmVc): NdisStatus;
  /** NdisCmActivateVc / NdisMCmActivateVc. PENDING ends in `activated`. */
  protected abstract activateVc(v: CmVc, params: CoCallParameters): NdisStatus;
  /** NdisCmDeactivateVc / NdisMCmDeactivateVc. PENDING ends in `deactivated`. */
  protected abstract deactivateVc(v: CmVc): NdisStatus;
  protected abstract dispatchIncomingCall(sap: CmSap, v: CmVc, params: CoCallParameters): NdisStatus;
  protected abstract dispatchCallConnected(v: CmVc): void;
  protected abstract dispatchIncomingCloseCall(status: NdisStatus, v: CmVc): void;
  protected abstract makeCallComplete(status: NdisStatus, v: CmVc, params: CoCallParameters): void;
  protected abstract closeCallComplete(status: NdisStatus, v: CmVc): void;
  /** A VC context for `handle` (an MCM attaches its miniport's VC context). */
  protected newVc(handle: NdisVcHandle, creator: 'client' | 'cm'): CmVc {
    return new CmVc(handle, creator);
  }
  /** The client deleted its VC (ProtocolCoDeleteVc); an MCM frees its miniport's context. */
  protected vcDeleted(_v: CmVc): void {}

  /** Connect the engine to its channel. */
  protected attach(channel: SignallingChannel): void {
    channel.onFrame = (bytes, off, len) => this.receiveFrame(bytes, off, len);
  }

  /** Calls in progress (any state but Idle). */
  get calls(): number {
    let n = 0;
    for (const v of this.vcs) if (v.state !== CallState.Idle) n++;
    return n;
  }

  /** The call manager's context of the VC a handle (any party's) names. */
  vcFor(vcHandle: NdisVcHandle): CmVc | undefined {
    const slot = this.ndis.vcInfo(vcHandle)?.slot;
    if (slot === undefined) return undefined;
    for (const v of this.vcs) if (v.handle && this.ndis.vcInfo(v.handle)?.slot === slot) return v;
    return undefined;
  }

  /** Cancels every timer; no more signalling is handled. */
  protected stopSignalling(): void {
    this.stopped = true;
    for (const v of this.vcs) {
      this.disarm(v);
      this.stopKeepalive(v);
    }
    this.channel.onFrame = null;
  }

  // ---------------------------------------------------------------------------------------------
  // NDIS handlers (NDIS_CO_CALL_MANAGER_OPTIONAL_HANDLERS)

  protected cmHandlers(): CallManagerHandlers {
    return {
      coCreateVc: (_afCtx, h) => this.coCreateVc(h),
      coDeleteVc: (ctx) => this.coDeleteVc(ctx),
      cmOpenAf: (_bindingCtx, _af, h) => ({ status: NDIS_STATUS_SUCCESS, context: new CmAf(h) }),
      cmCloseAf: () => NDIS_STATUS_SUCCESS,
      cmRegisterSap: (afCtx, sap, h) => this.cmRegisterSap(afCtx as CmAf, sap, h),
      cmDeregisterSap: (ctx) => {
        this.saps.delete(ctx as CmSap);
        return NDIS_STATUS_SUCCESS;
      },
      cmMakeCall: (ctx, params) => this.cmMakeCall(ctx as CmVc, params),
      cmCloseCall: (ctx, _party, closeData) => this.cmCloseCall(ctx as CmVc, closeData),
      // The protocol has no renegotiation message: a QoS change cannot be agreed with the peer.
      cmModifyCallQoS: () => NDIS_STATUS_NOT_SUPPORTED,
      cmIncomingCallComplete: (status, ctx) => {
        if (ctx instanceof CmVc) this.answered(ctx, status);
      },
      cmActivateVcComplete: (status, ctx) => {
        if (!(ctx instanceof CmVc)) return; // the signalling VC: its opener awaits the promise
        ctx.activating = false;
        this.activated(ctx, status);
      },
      cmDeactivateVcComplete: (status, ctx) => {
        if (ctx instanceof CmVc) this.deactivated(ctx, status);
      },
    };
  }

  /**
   * ProtocolCoCreateVc: the client created a VC for an outgoing call.
   * Enters: Idle. Results: SUCCESS with the context; never PENDING (E7).
   */
  private coCreateVc(h: NdisVcHandle): ContextResult {
    const v = this.newVc(h, 'client');
    this.vcs.add(v);
    return { status: NDIS_STATUS_SUCCESS, context: v };
  }

  /**
   * ProtocolCoDeleteVc: the client deletes its VC. NOT_ACCEPTED while a call is still on it
   * (NDIS already refuses an active VC; this covers a call the network is still clearing).
   */
  private coDeleteVc(ctx: unknown): NdisStatus {
    const v = ctx as CmVc;
    if (v.state !== CallState.Idle) return NDIS_STATUS_NOT_ACCEPTED;
    this.vcs.delete(v);
    this.vcDeleted(v);
    return NDIS_STATUS_SUCCESS;
  }

  /** ProtocolCmRegisterSap: the SAP is a number (the "called SAP" of SETUP). */
  private cmRegisterSap(af: CmAf, sap: unknown, h: NdisSapHandle): ContextResult {
    const n = typeof sap === 'number' ? sap : Number((sap as { sap?: number } | undefined)?.sap);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) return NDIS_STATUS_INVALID_DATA;
    for (const s of this.saps) if (s.sap === n) return NDIS_STATUS_INVALID_DATA;
    const s = new CmSap(af, n, h);
    this.saps.add(s);
    return { status: NDIS_STATUS_SUCCESS, context: s };
  }

  /**
   * ProtocolCmMakeCall (spec §3.1).
   * Requires: the VC Idle and inactive (NDIS: C=MAKING). The parameters name the VC id (VID).
   * Enters: SetupSent; SETUP goes to the peer (unicast if known, else broadcast) under T303.
   * Results: PENDING (NdisCmMakeCallComplete follows: SUCCESS once the VC is active, or the
   * peer's / the timer's failure status); INVALID_DATA without a VID or with VID 0 (a call's VC
   * id is 1..4094, the SETUP's range: VID 0 is untagged pair 0, signalling's home);
   * VC_NOT_AVAILABLE if another call on this endpoint carries that VID; NOT_ACCEPTED if the VC
   * carries a call.
   */
  private cmMakeCall(v: CmVc, params: CoCallParameters): NdisStatus {
    if (v.state !== CallState.Idle) return NDIS_STATUS_NOT_ACCEPTED;
    const vid = vidOf(params);
    if (vid === undefined || vid === UNTAGGED_VID) return NDIS_STATUS_INVALID_DATA;
    if (this.vids.has(vid)) return NDIS_STATUS_VC_NOT_AVAILABLE;
    const ref = this.allocRef();
    if (ref === 0) return NDIS_STATUS_VC_NOT_AVAILABLE;
    const spec = params.callMgrParameters?.specific as CondisCallSpecific | undefined;
    v.origin = 'out';
    v.callRef = ref;
    v.vid = vid;
    v.sap = spec?.sap ?? 0;
    v.peer = spec?.peer ?? this.opts.peerMac;
    v.params = params;
    v.state = CallState.SetupSent;
    this.outgoing.set(ref, v);
    this.vids.set(vid, v);
    this.sendSetup(v);
    this.arm(v);
    return NDIS_STATUS_PENDING;
  }

  /**
   * ProtocolCmCloseCall (spec §3.2; and §3.3 once the client answers an incoming close).
   * From Active: RELEASE under T308, PENDING; the deactivation starts on RELEASE COMPLETE and the
   * close completes from its completion (spec §5 C1).
   * From ReleaseIndicated: PENDING while the deactivation runs (or starts it now), or SUCCESS at
   * once if the VC is already inactive; RELEASE COMPLETE goes out when the close completes.
   * Results: PENDING, SUCCESS, INVALID_DATA for close data (the protocol carries none, E33),
   * FAILURE in any other state.
   */
  private cmCloseCall(v: CmVc, closeData: Uint8Array | undefined): NdisStatus {
    if (closeData && closeData.length > 0) return NDIS_STATUS_INVALID_DATA;
    if (v.state === CallState.Active) {
      this.stopKeepalive(v); // T308 watches the peer from here
      v.clientClosed = true;
      v.closePending = true;
      v.state = CallState.ReleaseSent;
      v.retransmits = 0;
      this.sendRelease(MessageType.RELEASE, v, Cause.NORMAL_CLEARING, NDIS_STATUS_SUCCESS);
      this.arm(v);
      return NDIS_STATUS_PENDING;
    }
    if (v.state === CallState.ReleaseIndicated) {
      v.clientClosed = true;
      if (!v.active && !v.deactivating) return this.finishClose(v, NDIS_STATUS_SUCCESS);
      // A completion reported from inside this handler is processed by NDIS after the PENDING.
      v.closePending = true;
      if (!v.deactivating) this.startDeactivate(v);
      return NDIS_STATUS_PENDING;
    }
    return NDIS_STATUS_FAILURE;
  }

  // ---------------------------------------------------------------------------------------------
  // Call progress on the NDIS side

  /** The activation this call manager asked for completed (synchronously or not). */
  protected activated(v: CmVc, status: NdisStatus): void {
    if (v.state !== CallState.Activating) return;
    if (status === NDIS_STATUS_SUCCESS) v.active = true;
    if (v.origin === 'out') {
      if (v.abandoned) {
        // The callee released while we activated: undo, then fail the make-call (E23).
        v.state = CallState.Rejected;
        if (v.active) this.startDeactivate(v);
        else this.failOutgoing(v, v.releaseStatus);
        return;
      }
      if (status !== NDIS_STATUS_SUCCESS) {
        // The callee waits for CONNECT ACK; RELEASE tells it (its T313 covers a lost one).
        this.sendRelease(MessageType.RELEASE, v, Cause.RESOURCE_UNAVAILABLE, status);
        this.failOutgoing(v, status);
        return;
      }
      v.state = CallState.Active;
      this.send(MessageType.CONNECT_ACK, v);
      this.armKeepalive(v);
      this.makeCallComplete(NDIS_STATUS_SUCCESS, v, v.params!);
      return;
    }
    if (status !== NDIS_STATUS_SUCCESS || v.abandoned) {
      if (!v.abandoned) this.sendRelease(MessageType.RELEASE_COMPLETE, v, Cause.RESOURCE_UNAVAILABLE, status);
      v.state = CallState.Rejected;
      if (v.active) this.startDeactivate(v);
      else this.endIncoming(v);
      return;
    }
    v.state = CallState.Offered;
    const sap = v.sapCtx as CmSap;
    const st = this.dispatchIncomingCall(sap, v, v.params!);
    if (st !== NDIS_STATUS_PENDING) this.answered(v, st);
  }

  /** The client answered the offer (ProtocolClIncomingCall's return or ProtocolCmIncomingCallComplete). */
  private answered(v: CmVc, status: NdisStatus): void {
    if (v.state !== CallState.Offered) return;
    if (status === NDIS_STATUS_SUCCESS && v.abandoned) {
      // Accepted, but the caller is gone: close instead of connecting (spec §1.2-F).
      v.state = CallState.ReleaseIndicated;
      v.releaseStatus = NDIS_STATUS_DEST_OUT_OF_ORDER;
      this.indicateRelease(v);
      return;
    }
    if (status === NDIS_STATUS_SUCCESS) {
      v.state = CallState.ConnectSent;
      v.retransmits = 0;
      this.send(MessageType.CONNECT, v);
      this.arm(v);
      return;
    }
    // Rejected (K6): tell the caller with the client's status, deactivate, delete.
    if (!v.abandoned) this.sendRelease(MessageType.RELEASE_COMPLETE, v, Cause.CALL_REJECTED, status);
    v.state = CallState.Rejected;
    this.startDeactivate(v);
  }

  /** Dispatch the incoming close (K8) and, by default, start the deactivation right away. */
  private indicateRelease(v: CmVc): void {
    this.dispatchIncomingCloseCall(v.releaseStatus, v);
    // The client may have closed from inside ProtocolClIncomingCloseCall (that started it).
    if ((this.opts.deactivateOnRelease ?? true) && v.active && !v.deactivating) this.startDeactivate(v);
  }

  protected startDeactivate(v: CmVc): void {
    if (v.deactivating) return;
    v.deactivating = true;
    const st = this.deactivateVc(v);
    if (st !== NDIS_STATUS_PENDING) this.deactivated(v, st);
  }

  /** The deactivation this call manager asked for completed (synchronously or not). */
  protected deactivated(v: CmVc, status: NdisStatus): void {
    v.deactivating = false;
    if (status !== NDIS_STATUS_SUCCESS && !v.deactivateRetried) {
      // U2: a failed (aborted) deactivation leaves the VC ACTIVE; with nothing left in flight a
      // second one completes at once.
      v.deactivateRetried = true;
      this.startDeactivate(v);
      return;
    }
    if (status === NDIS_STATUS_SUCCESS) v.active = false;
    switch (v.state) {
      case CallState.Rejected:
        if (v.origin === 'out') this.failOutgoing(v, v.releaseStatus);
        else this.endIncoming(v);
        return;
      case CallState.Clearing:
        this.finishClose(v, status);
        return;
      case CallState.ReleaseIndicated:
        // The close completes now if the client already asked for it; otherwise when it does.
        if (v.clientClosed) this.finishClose(v, status);
        return;
    }
  }

  /**
   * The end of a close: RELEASE COMPLETE if the peer released, the close completion if it was
   * pended, the VC deleted (later) if this call manager created it. Returns the status for a
   * close that completes synchronously.
   */
  private finishClose(v: CmVc, status: NdisStatus): NdisStatus {
    const pended = v.closePending;
    v.closePending = false;
    if (status === NDIS_STATUS_SUCCESS) {
      if (v.state === CallState.ReleaseIndicated && v.localClear === undefined)
        this.sendRelease(MessageType.RELEASE_COMPLETE, v, Cause.NORMAL_CLEARING, NDIS_STATUS_SUCCESS);
      else if (v.state === CallState.ReleaseIndicated && v.localClear === 'liveness')
        this.sendRelease(
          MessageType.RELEASE_COMPLETE,
          v,
          Cause.RECOVERY_ON_TIMER_EXPIRY,
          NDIS_STATUS_DEST_OUT_OF_ORDER,
        );
      this.forget(v);
      v.reset();
      if (v.creator === 'cm') this.deleteLater(v);
    }
    if (pended) this.closeCallComplete(status, v);
    return status;
  }

  /** An outgoing call that will not be: the make-call completes with `status` (K3). */
  private failOutgoing(v: CmVc, status: NdisStatus): void {
    const params = v.params!;
    this.forget(v);
    v.reset();
    this.makeCallComplete(status === NDIS_STATUS_SUCCESS ? NDIS_STATUS_FAILURE : status, v, params);
  }

  /** An incoming call that ended before it connected: its (inactive) VC is deleted. */
  private endIncoming(v: CmVc): void {
    this.forget(v);
    v.reset();
    this.deleteLater(v);
  }

  /**
   * NdisCoDeleteVc of a VC this call manager created, in a later turn: the client's
   * ProtocolClCloseCallComplete, queued by NDIS already, reaches it before its ProtocolCoDeleteVc.
   */
  private deleteLater(v: CmVc): void {
    this.ndis.scheduler.schedule(() => {
      if (v.state !== CallState.Idle || !this.vcs.has(v)) return;
      const st = this.deleteVc(v);
      if (st === NDIS_STATUS_SUCCESS) this.vcs.delete(v);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Signalling: receive

  private receiveFrame(bytes: Uint8Array, offset: number, length: number): void {
    const m = decodeMessage(bytes, offset, length);
    if (!m) {
      this.stats.malformed++;
      return;
    }
    if (sameMac(m.src, this.mac) || !(sameMac(m.dst, this.mac) || isBroadcast(m.dst))) {
      this.stats.notForUs++;
      return;
    }
    if (this.opts.filter && !this.opts.filter('rx', m)) {
      this.stats.droppedRx++;
      return;
    }
    this.stats.received[nameOf(m.type)]++;
    // Off the data path's stack: the message is a copy, handled in a later turn.
    this.ndis.scheduler.schedule(() => {
      if (!this.stopped) this.handleMessage(m);
    });
  }

  private handleMessage(m: SignallingMessage): void {
    if (m.type === MessageType.SETUP) {
      if (!m.toOriginator) this.onSetup(m);
      return;
    }
    const v = m.toOriginator ? this.outgoing.get(m.callRef) : this.incoming.get(keyOf(m.src, m.callRef));
    if (!v) {
      // A call we know nothing of (finished, never ours, or from before a restart): clear it on
      // the peer's side.
      if (m.type !== MessageType.RELEASE_COMPLETE && m.type !== MessageType.CONNECT_ACK) {
        this.stats.unknownRefs++;
        this.reply(m, MessageType.RELEASE_COMPLETE, Cause.INVALID_CALL_REFERENCE);
      }
      return;
    }
    if (v.peer && !isBroadcast(v.peer) && !sameMac(v.peer, m.src)) {
      // A second answer to a broadcast SETUP: that one does not get the call.
      if (m.type === MessageType.CONNECT) this.reply(m, MessageType.RELEASE, Cause.NO_CIRCUIT_AVAILABLE);
      return;
    }
    // The peer is alive and knows the call: whatever it sent answers our STATUS ENQUIRY, and on
    // the callee's end it puts off our own probing (armKeepalive).
    v.misses = 0;
    if (v.origin === 'in' && v.keepaliveTimer !== undefined) this.armKeepalive(v, this.calleeWaitMs);
    if (m.type === MessageType.CONNECT) this.onConnect(v, m);
    else if (m.type === MessageType.CONNECT_ACK) this.onConnectAck(v);
    else if (m.type === MessageType.RELEASE) this.onRelease(v, m.status);
    else if (m.type === MessageType.RELEASE_COMPLETE) this.onReleaseComplete(v, m.status, m.cause);
    else if (m.type === MessageType.STATUS_ENQUIRY) this.sendStatus(v);
    // STATUS: nothing more (the miss count is reset above).
  }

  /** SETUP: a new incoming call (or a retransmission of one we handle already). */
  private onSetup(m: SetupMessage): void {
    const key = keyOf(m.src, m.callRef);
    const known = this.incoming.get(key);
    if (known) {
      // Our CONNECT was lost: the caller's T303 sent SETUP again.
      if (known.state === CallState.ConnectSent) this.send(MessageType.CONNECT, known);
      // A live caller never repeats SETUP once it sent CONNECT ACK: the peer restarted and reused
      // the reference. The old call is stale; its clearing frees the reference for a retransmission.
      else if (known.state === CallState.Active) this.clearStale(known, NDIS_STATUS_DEST_OUT_OF_ORDER);
      return;
    }
    // Refusals answer with RELEASE COMPLETE: the cause for the wire, the NDIS status for the caller.
    const sap = this.sapFor(m.sap);
    let refusal: [number, NdisStatus] | undefined;
    if (!sap) refusal = [Cause.INCOMPATIBLE_DESTINATION, NDIS_STATUS_INVALID_SAP];
    else if (m.vcId < 1 || m.vcId > 4094 || this.vids.has(m.vcId))
      refusal = [Cause.NO_CIRCUIT_AVAILABLE, NDIS_STATUS_VC_NOT_AVAILABLE];
    const v = this.newVc(0 as NdisVcHandle, 'cm');
    if (!refusal) {
      const st = this.createVc(sap!.af, v);
      if (st !== NDIS_STATUS_SUCCESS) refusal = [Cause.RESOURCE_UNAVAILABLE, st];
    }
    if (refusal) {
      this.reply(m, MessageType.RELEASE_COMPLETE, refusal[0], refusal[1]);
      return;
    }
    this.vcs.add(v);
    v.origin = 'in';
    v.callRef = m.callRef;
    v.peer = m.src;
    v.vid = m.vcId;
    v.sap = m.sap;
    v.sapCtx = sap;
    const params = calleeParameters(m.vcId, m.params);
    params.callMgrParameters!.specific = { peer: m.src, sap: m.sap } satisfies CondisCallSpecific;
    v.params = params;
    v.state = CallState.Activating;
    this.incoming.set(key, v);
    this.vids.set(m.vcId, v);
    this.activate(v);
  }

  private activate(v: CmVc): void {
    v.activating = true;
    const st = this.activateVc(v, v.params!);
    if (st === NDIS_STATUS_PENDING) return;
    v.activating = false;
    this.activated(v, st);
  }

  /** CONNECT: the callee accepted our call; activate our end of the VC. */
  private onConnect(v: CmVc, m: SignallingMessage): void {
    if (v.state === CallState.Active) {
      this.send(MessageType.CONNECT_ACK, v); // our CONNECT ACK was lost
      return;
    }
    if (v.state !== CallState.SetupSent) return;
    this.disarm(v);
    v.peer = m.src;
    v.state = CallState.Activating;
    this.activate(v);
  }

  /** CONNECT ACK: the caller's end is active; data may flow (K7). */
  private onConnectAck(v: CmVc): void {
    if (v.state !== CallState.ConnectSent) return;
    this.disarm(v);
    v.state = CallState.Active;
    this.armKeepalive(v, this.calleeWaitMs);
    this.dispatchCallConnected(v);
  }

  /** RELEASE: the peer hangs up (or refuses). */
  private onRelease(v: CmVc, status: NdisStatus): void {
    v.releaseStatus = status;
    switch (v.state) {
      case CallState.SetupSent:
        this.disarm(v);
        this.sendRelease(MessageType.RELEASE_COMPLETE, v, Cause.NORMAL_CLEARING, NDIS_STATUS_SUCCESS);
        this.failOutgoing(v, status === NDIS_STATUS_SUCCESS ? NDIS_STATUS_NOT_ACCEPTED : status);
        return;
      case CallState.Activating:
      case CallState.Offered:
        // Finish what runs on the NDIS side first; activated()/answered() see the flag.
        v.abandoned = true;
        if (v.origin === 'out' && status === NDIS_STATUS_SUCCESS) v.releaseStatus = NDIS_STATUS_NOT_ACCEPTED;
        this.sendRelease(MessageType.RELEASE_COMPLETE, v, Cause.NORMAL_CLEARING, NDIS_STATUS_SUCCESS);
        return;
      case CallState.Active:
      case CallState.ConnectSent:
        this.disarm(v);
        this.stopKeepalive(v);
        v.state = CallState.ReleaseIndicated;
        this.indicateRelease(v);
        return;
      case CallState.ReleaseSent:
        // Clear collision (Q.931 §5.3.5): both released; the channel is free.
        this.disarm(v);
        this.sendRelease(MessageType.RELEASE_COMPLETE, v, Cause.NORMAL_CLEARING, NDIS_STATUS_SUCCESS);
        v.state = CallState.Clearing;
        this.startDeactivate(v);
        return;
      default:
        return; // a retransmitted RELEASE: RELEASE COMPLETE follows when the close is done
    }
  }

  /** RELEASE COMPLETE: the answer to our RELEASE, or the callee's refusal of our SETUP. */
  private onReleaseComplete(v: CmVc, status: NdisStatus, cause: number): void {
    if (v.state === CallState.Active) {
      // Q.931 §5.8.3.2: RELEASE COMPLETE in any state releases the call. On an Active call it is
      // a peer that lost it (cause 81: it restarted and refused our STATUS ENQUIRY).
      this.clearStale(
        v,
        cause === Cause.INVALID_CALL_REFERENCE || status === NDIS_STATUS_SUCCESS
          ? NDIS_STATUS_DEST_OUT_OF_ORDER
          : status,
      );
      return;
    }
    if (v.state === CallState.SetupSent) {
      this.disarm(v);
      this.failOutgoing(v, status === NDIS_STATUS_SUCCESS ? NDIS_STATUS_NOT_ACCEPTED : status);
    } else if (v.state === CallState.ReleaseSent) {
      this.disarm(v);
      v.state = CallState.Clearing;
      this.startDeactivate(v);
    } else if (v.state === CallState.Activating || v.state === CallState.Offered) {
      v.abandoned = true; // the caller cleared (its T303 expired): finish, then tear down
    } else if (v.state === CallState.ConnectSent) {
      this.disarm(v);
      v.state = CallState.ReleaseIndicated;
      v.releaseStatus = status === NDIS_STATUS_SUCCESS ? NDIS_STATUS_DEST_OUT_OF_ORDER : status;
      this.indicateRelease(v);
    }
  }

  /** An Active call the peer no longer has: cleared here, nothing sent to the peer. */
  private clearStale(v: CmVc, status: NdisStatus): void {
    this.stats.staleClears++;
    this.clearLocally(v, status, 'peer');
  }

  /** An Active call cleared without the peer's RELEASE: dispatched as a network-initiated close. */
  private clearLocally(v: CmVc, status: NdisStatus, how: 'liveness' | 'peer'): void {
    this.disarm(v);
    this.stopKeepalive(v);
    v.state = CallState.ReleaseIndicated;
    v.releaseStatus = status;
    v.localClear = how;
    this.indicateRelease(v);
  }

  // ---------------------------------------------------------------------------------------------
  // Signalling: liveness of an Active call (STATUS ENQUIRY / STATUS; see the file comment)

  /**
   * The next liveness tick of `v`: one interval away for the caller's end, and for an end that
   * has just probed; the callee's end waits an interval and a half (calleeWaitMs), which every
   * message of the peer restarts (handleMessage), so while the caller probes the callee never
   * does. Why: both ends probing doubled the cost of an idle call (two enquiries and two answers
   * per interval). Why the half interval: the callee would otherwise time out at the very moment
   * the caller's next enquiry arrives (both one interval after the last), a race on every tick.
   */
  private armKeepalive(v: CmVc, ms = this.keepaliveMs): void {
    this.stopKeepalive(v);
    if (this.keepaliveMs === 0) return;
    v.keepaliveTimer = this.clock.setTimer(ms, () => {
      v.keepaliveTimer = undefined;
      if (!this.stopped) this.keepaliveTick(v);
    });
  }

  /** How long the callee's end waits for the peer before it probes itself (armKeepalive). */
  private get calleeWaitMs(): number {
    return Math.round((this.keepaliveMs * 3) / 2);
  }

  private stopKeepalive(v: CmVc): void {
    if (v.keepaliveTimer !== undefined) this.clock.clearTimer(v.keepaliveTimer);
    v.keepaliveTimer = undefined;
  }

  private keepaliveTick(v: CmVc): void {
    if (v.state !== CallState.Active) return;
    if (v.misses >= this.keepaliveMisses) {
      this.stats.livenessClears++;
      this.clearLocally(v, NDIS_STATUS_DEST_OUT_OF_ORDER, 'liveness');
      return;
    }
    v.misses++;
    this.transmit({
      type: MessageType.STATUS_ENQUIRY,
      dst: v.peer ?? BROADCAST_MAC,
      src: this.mac,
      callRef: v.callRef,
      toOriginator: v.origin === 'in',
    });
    this.armKeepalive(v);
  }

  /** STATUS: the answer to a STATUS ENQUIRY for a call we know, with its Q.931 call state. */
  private sendStatus(v: CmVc): void {
    this.transmit({
      type: MessageType.STATUS,
      dst: v.peer ?? BROADCAST_MAC,
      src: this.mac,
      callRef: v.callRef,
      toOriginator: v.origin === 'in',
      cause: Cause.RESPONSE_TO_STATUS_ENQUIRY,
      callState: q931CallState(v.state, v.origin),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Signalling: timers (T303 for SETUP, T313 for CONNECT, T308 for RELEASE)

  private arm(v: CmVc): void {
    this.disarm(v);
    v.timer = this.clock.setTimer(this.retransmitMs, () => {
      v.timer = undefined;
      if (!this.stopped) this.expired(v);
    });
  }

  private disarm(v: CmVc): void {
    if (v.timer !== undefined) this.clock.clearTimer(v.timer);
    v.timer = undefined;
  }

  private expired(v: CmVc): void {
    const state = v.state;
    if (state !== CallState.SetupSent && state !== CallState.ConnectSent && state !== CallState.ReleaseSent)
      return;
    if (v.retransmits < this.maxRetransmits) {
      v.retransmits++;
      this.stats.retransmits++;
      if (state === CallState.SetupSent) this.sendSetup(v);
      else if (state === CallState.ConnectSent) this.send(MessageType.CONNECT, v);
      else this.sendRelease(MessageType.RELEASE, v, Cause.NORMAL_CLEARING, NDIS_STATUS_SUCCESS);
      this.arm(v);
      return;
    }
    this.stats.timeouts++;
    if (state === CallState.SetupSent) {
      // Nobody answered: clear whatever may have half-heard us, fail the make-call.
      this.sendRelease(
        MessageType.RELEASE_COMPLETE,
        v,
        Cause.RECOVERY_ON_TIMER_EXPIRY,
        NDIS_STATUS_DEST_OUT_OF_ORDER,
      );
      this.failOutgoing(v, NDIS_STATUS_DEST_OUT_OF_ORDER);
    } else if (state === CallState.ConnectSent) {
      // Accepted but the caller never confirmed: the remote side vanished (spec §1.2-F).
      v.state = CallState.ReleaseIndicated;
      v.releaseStatus = NDIS_STATUS_DEST_OUT_OF_ORDER;
      this.indicateRelease(v);
    } else {
      // T308 expired for good: release the channel anyway (Q.931 §5.3.4).
      v.state = CallState.Clearing;
      this.startDeactivate(v);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Signalling: transmit

  private sendSetup(v: CmVc): void {
    this.transmit({
      type: MessageType.SETUP,
      dst: v.peer ?? BROADCAST_MAC,
      src: this.mac,
      callRef: v.callRef,
      toOriginator: false,
      vcId: v.vid,
      sap: v.sap,
      params: paramsBlockOf(v.params!),
    });
  }

  private send(type: typeof MessageType.CONNECT | typeof MessageType.CONNECT_ACK, v: CmVc): void {
    this.transmit({
      type,
      dst: v.peer ?? BROADCAST_MAC,
      src: this.mac,
      callRef: v.callRef,
      toOriginator: v.origin === 'in',
    });
  }

  private sendRelease(
    type: typeof MessageType.RELEASE | typeof MessageType.RELEASE_COMPLETE,
    v: CmVc,
    cause: number,
    status: NdisStatus,
  ): void {
    this.transmit({
      type,
      dst: v.peer ?? BROADCAST_MAC,
      src: this.mac,
      callRef: v.callRef,
      toOriginator: v.origin === 'in',
      cause,
      status,
    });
  }

  /** Answer a message about a call we do not (or no longer) carry. */
  private reply(
    m: SignallingMessage,
    type: typeof MessageType.RELEASE | typeof MessageType.RELEASE_COMPLETE,
    cause: number,
    status: NdisStatus = NDIS_STATUS_FAILURE,
  ): void {
    this.transmit({
      type,
      dst: m.src,
      src: this.mac,
      callRef: m.callRef,
      toOriginator: !m.toOriginator,
      cause,
      status,
    });
  }

  private transmit(m: SignallingMessage): void {
    if (this.opts.filter && !this.opts.filter('tx', m)) {
      this.stats.droppedTx++;
      return;
    }
    this.stats.sent[nameOf(m.type)]++;
    this.channel.send(encodeMessage(m));
  }

  // ---------------------------------------------------------------------------------------------
  // Bookkeeping

  private sapFor(n: number): CmSap | undefined {
    let first: CmSap | undefined;
    for (const s of this.saps) {
      if (s.sap === n) return s;
      first ??= s;
    }
    return n === 0 ? first : undefined;
  }

  /** A free call reference (we originate at most 32767 calls at a time). 0 if none. */
  private allocRef(): number {
    for (let i = 0; i < MAX_CALL_REF; i++) {
      const ref = this.nextRef;
      this.nextRef = ref === MAX_CALL_REF ? 1 : ref + 1;
      if (!this.outgoing.has(ref)) return ref;
    }
    return 0;
  }

  /** Drop the call's timer, call reference and VC id. */
  private forget(v: CmVc): void {
    this.disarm(v);
    this.stopKeepalive(v);
    if (v.origin === 'out') {
      if (this.outgoing.get(v.callRef) === v) this.outgoing.delete(v.callRef);
    } else if (v.peer) {
      const key = keyOf(v.peer, v.callRef);
      if (this.incoming.get(key) === v) this.incoming.delete(key);
    }
    if (this.vids.get(v.vid) === v) this.vids.delete(v.vid);
  }
}

/**
 * A random call reference, 1..32767 (Web Crypto: portable like the rest of the runtime). Why
 * random: a node that restarts must not hand out the references of its previous life, which its
 * peers may still hold for calls they have not yet cleared.
 */
function randomCallRef(): number {
  const r = new Uint16Array(1);
  globalThis.crypto.getRandomValues(r);
  return 1 + (r[0]! % MAX_CALL_REF);
}

function keyOf(mac: Uint8Array, ref: number): string {
  return `${macToString(mac)}/${ref}`;
}

function nameOf(type: number): keyof typeof MessageType {
  return messageTypeName(type) as keyof typeof MessageType;
}
