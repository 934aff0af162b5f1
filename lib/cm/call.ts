/**
 * The call manager's context of one VC (CallMgrVcContext) and the state of the call it carries.
 *
 * One enum for the signalling state of the call, as Q.931 numbers its call states, plus the two
 * NDIS requests the call manager may have outstanding on the VC (an activation or deactivation it
 * started, a client close it pended). Outgoing calls (the client created the VC):
 *
 *   Idle --cmMakeCall/SETUP--> SetupSent --CONNECT--> Activating --activated/CONNECT ACK--> Active
 *           (T303: retransmit SETUP; expiry or RELEASE COMPLETE: make-call fails, back to Idle)
 *
 * Incoming calls (the call manager created the VC):
 *
 *   SETUP --coCreateVc--> Activating --activated--> Offered --accepted/CONNECT--> ConnectSent
 *           --CONNECT ACK/call connected--> Active
 *   Offered --rejected/RELEASE COMPLETE--> Rejected --deactivated--> (VC deleted)
 *
 * Clearing, from either side:
 *
 *   Active --cmCloseCall/RELEASE--> ReleaseSent --RELEASE COMPLETE (T308 expiry)--> Clearing
 *   Active --RELEASE--> ReleaseIndicated (incoming close dispatched; deactivating at once)
 *   Clearing / ReleaseIndicated --deactivated + client closed--> Idle (RELEASE COMPLETE sent
 *   by the side that received RELEASE; a VC the call manager created is then deleted)
 *
 * Liveness (call-control.ts), on an Active call only:
 *
 *   Active --keepaliveMisses STATUS ENQUIRYs unanswered--> ReleaseIndicated (DEST_OUT_OF_ORDER)
 *   Active --RELEASE COMPLETE (e.g. cause 81 from a restarted peer)--> ReleaseIndicated
 */
import type { NdisVcHandle } from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import type { NdisStatus } from '../ndis/status';

export const CallState = {
  /** No call on the VC (new, or after a call was cleared). */
  Idle: 'Idle',
  /** Outgoing: SETUP sent, waiting for CONNECT or RELEASE COMPLETE (timer T303). */
  SetupSent: 'SetupSent',
  /** The call is agreed on the network; the VC is being activated. */
  Activating: 'Activating',
  /** Incoming: dispatched to the client (ProtocolClIncomingCall), waiting for its answer. */
  Offered: 'Offered',
  /** Incoming: the client accepted; CONNECT sent, waiting for CONNECT ACK (timer T313). */
  ConnectSent: 'ConnectSent',
  /** Data flows. */
  Active: 'Active',
  /** Incoming: the client rejected; deactivating before the VC is deleted. */
  Rejected: 'Rejected',
  /** Our client closed: RELEASE sent, waiting for RELEASE COMPLETE (timer T308). */
  ReleaseSent: 'ReleaseSent',
  /** Our client closed and the peer confirmed: deactivating, then the close completes. */
  Clearing: 'Clearing',
  /** The peer released: incoming close dispatched; deactivation and the client's close to come. */
  ReleaseIndicated: 'ReleaseIndicated',
} as const;
export type CallState = (typeof CallState)[keyof typeof CallState];

/** The Q.931 call state number a STATUS reports for a call in `state` (as the sender sees it). */
export function q931CallState(state: CallState, origin: 'out' | 'in'): number {
  switch (state) {
    case CallState.Idle:
      return 0; // U0 null
    case CallState.SetupSent:
      return 1; // U1 call initiated
    case CallState.Activating:
      return origin === 'out' ? 1 : 6; // U6 call present
    case CallState.Offered:
      return 7; // U7 call received
    case CallState.ConnectSent:
      return 8; // U8 connect request
    case CallState.Active:
      return 10; // U10 active
    case CallState.ReleaseIndicated:
      return 12; // U12 disconnect indication
    default:
      return 19; // U19 release request (Rejected, ReleaseSent, Clearing)
  }
}

/**
 * How a call the peer did not release with RELEASE was cleared here, which decides what goes to
 * the peer when the close completes: 'liveness' (its STATUS ENQUIRYs went unanswered: RELEASE
 * COMPLETE, cause 102, in case the peer is alive after all), 'peer' (a RELEASE COMPLETE came,
 * or the peer restarted: nothing, the peer has no such call any more).
 */
export type LocalClear = 'liveness' | 'peer';

/** Call manager's VC context (CallMgrVcContext). */
export class CmVc {
  state: CallState = CallState.Idle;
  /** Which side set the call up: 'out' = our client called (we originated the call reference). */
  origin: 'out' | 'in' = 'out';
  callRef = 0;
  /** The peer's MAC (broadcast until it answered an outgoing SETUP). */
  peer: Uint8Array | undefined;
  vid = 0;
  sap = 0;
  /** The parameter set of the call (the client's own object for an outgoing call, E24). */
  params: CoCallParameters | undefined;
  /** Incoming: the SAP the call was offered on. */
  sapCtx: unknown;
  /** Retransmission timer and how many times the current message was sent again. */
  timer: number | undefined;
  retransmits = 0;
  /** The VC is active as far as this call manager knows (activated, not yet deactivated). */
  active = false;
  /** An activation / deactivation this call manager started is pending. */
  activating = false;
  deactivating = false;
  /** A failed deactivation was already retried once (U2: the VC is ACTIVE again). */
  deactivateRetried = false;
  /** The client's NdisClCloseCall is pended on the deactivation. */
  closePending = false;
  /** The client closed (ProtocolCmCloseCall ran) in this call. */
  clientClosed = false;
  /** Status the peer released with (incoming close). */
  releaseStatus: NdisStatus = 0;
  /** The caller gave up while the offer was pending (RELEASE before we answered). */
  abandoned = false;
  /** Liveness timer of an Active call (T322-like) and the STATUS ENQUIRYs unanswered so far. */
  keepaliveTimer: number | undefined;
  misses = 0;
  /** Set when the call was cleared here without the peer's RELEASE (see LocalClear). */
  localClear: LocalClear | undefined;

  constructor(
    /** The call manager's handle of the VC (set once NDIS has created the VC). */
    public handle: NdisVcHandle,
    /** Who created the VC: the client (outgoing calls) or the call manager (incoming calls). */
    readonly creator: 'client' | 'cm',
  ) {}

  /** Back to Idle once a call is over (a client-created VC may carry another call, spec §5 C2). */
  reset(): void {
    this.state = CallState.Idle;
    this.callRef = 0;
    this.peer = undefined;
    this.vid = 0;
    this.params = undefined;
    this.timer = undefined;
    this.retransmits = 0;
    this.active = false;
    this.activating = false;
    this.deactivating = false;
    this.deactivateRetried = false;
    this.closePending = false;
    this.clientClosed = false;
    this.releaseStatus = 0;
    this.abandoned = false;
    this.keepaliveTimer = undefined;
    this.misses = 0;
    this.localClear = undefined;
  }
}
