/**
 * The miniport's per-VC context (MiniportVcContext): one state enum and the outstanding counters
 * the drain is decided on (the filter sample's shape: state + counters, never a flags word).
 *
 *   Inactive --coActivateVc--> Active --coDeactivateVc--> Draining --last tx/rx back--> Inactive
 *                                 ^                          |
 *                                 +------- abort (A11) ------+  (backendLost, ringError, coAbortVc)
 *
 * Counters that decide the drain (spec §2.4):
 * - `txInFlight`: NBLs handed to MiniportCoSendNetBufferLists and not yet given back through
 *   NdisMCoSendNetBufferListsComplete — on the transmit ring or in the software queue;
 * - `rxHeld`: NBLs indicated without NDIS_RECEIVE_FLAGS_RESOURCES and not yet returned through
 *   MiniportReturnNetBufferLists.
 * The rest are statistics (plain numbers, bumped on the data path; nothing allocated).
 */
import type { NdisVcHandle } from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import type { NetBuffer, NetBufferList } from '../ndis/nbl';
import type { NdisStatus } from '../ndis/status';
import type { QueuePair } from './pair';

export const VcState = {
  /** Created (MiniportCoCreateVc) or deactivated: no queue pair, nothing in flight. */
  Inactive: 0,
  /** Bound to a queue pair: sends go to its transmitq, its receiveq is indicated up. */
  Active: 1,
  /** MiniportCoDeactivateVc pended: no new indications; waiting for txInFlight and rxHeld to reach 0. */
  Draining: 2,
} as const;
export type VcState = (typeof VcState)[keyof typeof VcState];

const stateNames = ['Inactive', 'Active', 'Draining'] as const;
export function vcStateName(s: VcState): string {
  return stateNames[s] ?? `VcState(${s})`;
}

/** Counters of one VC, cumulative over its life (all activation eras). */
export class VcCounters {
  /** NBLs accepted by MiniportCoSendNetBufferLists. */
  txNbls = 0;
  /** NBLs given back through NdisMCoSendNetBufferListsComplete, by outcome. */
  txCompleted = 0;
  txFailed = 0;
  /** Frames (NET_BUFFERs) placed on the ring straight from ring memory: no copy. */
  txZeroCopy = 0;
  /** Frames copied into a transmit pool buffer. */
  txCopied = 0;
  /** Frames that had to wait in the software queue (ring or pool full). */
  txQueued = 0;
  /** NBLs completed with SEND_ABORTED by a queue reset or an abort. */
  txAborted = 0;
  /** NBLs indicated up, with and without NDIS_RECEIVE_FLAGS_RESOURCES. */
  rxIndicated = 0;
  rxIndicatedResources = 0;
  /** NBLs returned through MiniportReturnNetBufferLists. */
  rxReturned = 0;
  /** Frames harvested while draining and dropped (never indicated: spec §2.4 condition 3). */
  rxDiscarded = 0;
  /** Receive buffers that came back empty (frame too big for the buffer). */
  rxEmpty = 0;
  /** Deactivations that completed SUCCESS / were aborted. */
  deactivations = 0;
  aborts = 0;
}

export class MiniportVc {
  state: VcState = VcState.Inactive;
  /** The VLAN id the VC is carried on; 0 while inactive, and for the untagged VC (pair 0): see `state`. */
  vid = 0;
  /** The queue pair the VC is bound to while Active or Draining. */
  pair: QueuePair | null = null;
  /** Parameters in force (the object NDIS passed to the activation that succeeded). */
  params: CoCallParameters | undefined;
  /** Largest frame a send may carry (from the activation's maxSduSize, or the buffer payload). */
  maxFrame = 0;
  /** NBLs inside the miniport for this VC (ring + software queue). */
  txInFlight = 0;
  /** Receive NBLs held by the protocol. */
  rxHeld = 0;
  /**
   * The software send queue (MiniportCoSendNetBufferLists may not refuse: NDIS gives a CoNDIS
   * miniport no back-pressure). Chained through NET_BUFFER_LIST.Next, which the miniport owns
   * while it holds the NBL. `swqNb` is the next NET_BUFFER of the head NBL still to be placed.
   */
  swqHead: NetBufferList | null = null;
  swqTail: NetBufferList | null = null;
  swqNb: NetBuffer | null = null;
  readonly counters = new VcCounters();
  /** Status the last deactivation completed with (SUCCESS, or the abort status). */
  lastDeactivateStatus: NdisStatus | undefined;

  constructor(readonly ndisVcHandle: NdisVcHandle) {}

  /** Nothing outstanding: the drain rule (spec §2.4 conditions 1 and 2) holds. */
  get drained(): boolean {
    return this.txInFlight === 0 && this.rxHeld === 0;
  }
}
