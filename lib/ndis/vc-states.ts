/**
 * The two state axes of a VC (spec §2.1) as pure transition tables:
 * `transition(state, event)` returns the next state and the effects the runtime must run, or the
 * status with which the request is refused (spec §2.3), or `undefined` when the event has no
 * entry at all (a contract break: there is no state outside the tables).
 *
 * The tables know nothing about handlers, counters or time; interpreter.ts runs the effects, every
 * one of them (a runner per effect, test/unit/ndis/ndis-effects.test.ts checks none is skipped).
 */
import {
  NDIS_STATUS_CALL_ACTIVE,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  type NdisStatus,
} from './status';

/** Activation axis A (spec §2.1). NONEXISTENT is "no entry in the VC table". */
export type ActivationState =
  | 'INACTIVE'
  | 'ACTIVATING'
  | 'ACTIVE'
  | 'REACTIVATING'
  | 'DEACTIVATING'
  | 'DELETED';

/** Call axis C (spec §2.1). */
export type CallState =
  | 'IDLE'
  | 'MAKING'
  | 'OFFERED'
  | 'ACCEPTED'
  | 'CONNECTED'
  | 'MODIFYING'
  | 'CLOSE_INDICATED'
  | 'CLOSING';

export const ACTIVATION_STATES: readonly ActivationState[] = [
  'INACTIVE',
  'ACTIVATING',
  'ACTIVE',
  'REACTIVATING',
  'DEACTIVATING',
  'DELETED',
];
export const CALL_STATES: readonly CallState[] = [
  'IDLE',
  'MAKING',
  'OFFERED',
  'ACCEPTED',
  'CONNECTED',
  'MODIFYING',
  'CLOSE_INDICATED',
  'CLOSING',
];

/** Effects the runtime runs after an activation transition. */
export type ActivationEffect =
  /** Call MiniportCoActivateVc. */
  | 'callMiniportActivate'
  /** Call MiniportCoDeactivateVc. */
  | 'callMiniportDeactivate'
  /** Set the drain's stop bit: new sends are refused. */
  | 'stopSends'
  /** Clear the stop bit (a new activation era, or a failed deactivation, A11). */
  | 'resumeSends'
  /** Forget the call parameters (deactivation complete: they are void). */
  | 'voidParameters'
  /** Adopt the parameters of the activation that succeeded. */
  | 'adoptParameters'
  /** Call the delete handlers (the peer may refuse: the VC survives, E57) and free the handle. */
  | 'callDeleteHandlers';

export type ActivationEvent =
  /** Ndis(M)CmActivateVc by a stand-alone CM (A3/A6). */
  | 'ACTIVATE'
  /** The miniport accepted the parameters (A4/A7). */
  | 'ACTIVATE_OK'
  /** The miniport refused them (A5/A8). */
  | 'ACTIVATE_FAIL'
  /** NdisMCmActivateVc: the MCM has already programmed its NIC (A15, C7). */
  | 'MCM_ACTIVATE'
  /** NdisCmDeactivateVc (A9). */
  | 'DEACTIVATE'
  /** NdisMCmDeactivateVc on a drained VC (A12). */
  | 'MCM_DEACTIVATE'
  /**
   * NdisMCmDeactivateVc with work outstanding (E43): NDIS waits for the drain and completes
   * through ProtocolCmDeactivateVcComplete (C3). Never calls the MCM's miniport half (C7).
   */
  | 'MCM_DEACTIVATE_UNDRAINED'
  /** Deactivation complete and drained (A10). */
  | 'DEACTIVATE_OK'
  /** The miniport failed the deactivation, or its deadline passed (A11). */
  | 'DEACTIVATE_FAIL'
  /** The creator's NdisCoDeleteVc / NdisMCmDeleteVc (A14). */
  | 'DELETE';

export type Outcome<S, E> =
  | { readonly next: S; readonly effects: readonly E[]; readonly refuse?: undefined }
  | { readonly refuse: NdisStatus; readonly next?: undefined };

const go = <S, E>(next: S, ...effects: E[]): Outcome<S, E> => ({ next, effects });
const no = (status: NdisStatus): { refuse: NdisStatus } => ({ refuse: status });

type Table<S extends string, Ev extends string, Ef> = Record<S, Partial<Record<Ev, Outcome<S, Ef>>>>;

/** Spec §2.2 (A1..A15) and the refusals of §2.3. */
export const ACTIVATION_TABLE: Table<ActivationState, ActivationEvent, ActivationEffect> = {
  INACTIVE: {
    ACTIVATE: go('ACTIVATING', 'callMiniportActivate'),
    MCM_ACTIVATE: go('ACTIVE', 'adoptParameters', 'resumeSends'),
    DEACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED), // U7: redundant, miniport not called
    MCM_DEACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED), // already inactive
    MCM_DEACTIVATE_UNDRAINED: no(NDIS_STATUS_NOT_ACCEPTED),
    DELETE: go('DELETED', 'callDeleteHandlers'),
  },
  ACTIVATING: {
    ACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED),
    MCM_ACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED),
    ACTIVATE_OK: go('ACTIVE', 'adoptParameters', 'resumeSends'),
    ACTIVATE_FAIL: go('INACTIVE'),
    DEACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED), // retry later
    MCM_DEACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED),
    MCM_DEACTIVATE_UNDRAINED: no(NDIS_STATUS_NOT_ACCEPTED),
    DELETE: no(NDIS_STATUS_NOT_ACCEPTED),
  },
  ACTIVE: {
    ACTIVATE: go('REACTIVATING', 'callMiniportActivate'),
    MCM_ACTIVATE: go('ACTIVE', 'adoptParameters'),
    DEACTIVATE: go('DEACTIVATING', 'stopSends', 'callMiniportDeactivate'),
    MCM_DEACTIVATE: go('INACTIVE', 'stopSends', 'voidParameters'),
    MCM_DEACTIVATE_UNDRAINED: go('DEACTIVATING', 'stopSends'),
    DELETE: no(NDIS_STATUS_NOT_ACCEPTED),
  },
  REACTIVATING: {
    ACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED),
    MCM_ACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED),
    ACTIVATE_OK: go('ACTIVE', 'adoptParameters'),
    ACTIVATE_FAIL: go('ACTIVE'), // previous parameters still in force (A8)
    DEACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED),
    MCM_DEACTIVATE: no(NDIS_STATUS_NOT_ACCEPTED),
    MCM_DEACTIVATE_UNDRAINED: no(NDIS_STATUS_NOT_ACCEPTED),
    DELETE: no(NDIS_STATUS_NOT_ACCEPTED),
  },
  DEACTIVATING: {
    ACTIVATE: no(NDIS_STATUS_CLOSING),
    MCM_ACTIVATE: no(NDIS_STATUS_CLOSING),
    DEACTIVATE: no(NDIS_STATUS_CLOSING), // one call is enough
    MCM_DEACTIVATE: no(NDIS_STATUS_CLOSING),
    MCM_DEACTIVATE_UNDRAINED: no(NDIS_STATUS_CLOSING),
    DEACTIVATE_OK: go('INACTIVE', 'voidParameters'),
    DEACTIVATE_FAIL: go('ACTIVE', 'resumeSends'), // A11 / U2 [POLICY]
    DELETE: no(NDIS_STATUS_CLOSING),
  },
  DELETED: {},
};

export function activationTransition(
  state: ActivationState,
  event: ActivationEvent,
): Outcome<ActivationState, ActivationEffect> | undefined {
  return ACTIVATION_TABLE[state][event];
}

export type CallEvent =
  /** NdisClMakeCall (K1, K14). */
  | 'MAKE_CALL'
  | 'MAKE_CALL_OK'
  | 'MAKE_CALL_FAIL'
  /** Ndis(M)CmDispatchIncomingCall (K4, K15). */
  | 'INCOMING_CALL'
  | 'INCOMING_ACCEPT'
  | 'INCOMING_REJECT'
  /** Ndis(M)CmDispatchCallConnected (K7). */
  | 'CALL_CONNECTED'
  /** Ndis(M)CmDispatchIncomingCloseCall (K8). */
  | 'INCOMING_CLOSE'
  /** NdisClModifyCallQoS (K9; also on an offered call, E27). */
  | 'MODIFY_QOS'
  | 'MODIFY_QOS_DONE'
  /** Ndis(M)CmDispatchIncomingCallQoSChange. */
  | 'QOS_CHANGE_INDICATED'
  /** NdisClCloseCall (K11). */
  | 'CLOSE_CALL'
  | 'CLOSE_OK'
  | 'CLOSE_FAIL';

/** The call table has no effects: the runtime calls the one peer each request names. */
export type CallEffect = never;

/** Spec §2.5 (K1..K15). Requests from drivers that do not fit are refused with the status given. */
export const CALL_TABLE: Table<CallState, CallEvent, CallEffect> = {
  IDLE: {
    MAKE_CALL: go('MAKING'),
    INCOMING_CALL: go('OFFERED'),
    CLOSE_CALL: no(NDIS_STATUS_NOT_ACCEPTED), // no call to close
    MODIFY_QOS: no(NDIS_STATUS_NOT_ACCEPTED),
  },
  MAKING: {
    MAKE_CALL: no(NDIS_STATUS_CALL_ACTIVE),
    MAKE_CALL_OK: go('CONNECTED'),
    MAKE_CALL_FAIL: go('IDLE'),
    CLOSE_CALL: no(NDIS_STATUS_NOT_ACCEPTED), // U6: wait for the make-call completion
    MODIFY_QOS: no(NDIS_STATUS_NOT_ACCEPTED),
  },
  OFFERED: {
    MAKE_CALL: no(NDIS_STATUS_CALL_ACTIVE),
    INCOMING_ACCEPT: go('ACCEPTED'),
    INCOMING_REJECT: go('IDLE'),
    MODIFY_QOS: go('OFFERED'), // E27: QoS rounds before answering the offer
    MODIFY_QOS_DONE: go('OFFERED'),
    CLOSE_CALL: no(NDIS_STATUS_NOT_ACCEPTED), // answer the offer instead
  },
  ACCEPTED: {
    MAKE_CALL: no(NDIS_STATUS_CALL_ACTIVE),
    CALL_CONNECTED: go('CONNECTED'),
    INCOMING_CLOSE: go('CLOSE_INDICATED'),
    CLOSE_CALL: go('CLOSING'),
    MODIFY_QOS: no(NDIS_STATUS_NOT_ACCEPTED),
  },
  CONNECTED: {
    MAKE_CALL: no(NDIS_STATUS_CALL_ACTIVE),
    INCOMING_CLOSE: go('CLOSE_INDICATED'),
    MODIFY_QOS: go('MODIFYING'),
    QOS_CHANGE_INDICATED: go('CONNECTED'),
    CLOSE_CALL: go('CLOSING'),
  },
  MODIFYING: {
    MAKE_CALL: no(NDIS_STATUS_CALL_ACTIVE),
    INCOMING_CLOSE: go('CLOSE_INDICATED'),
    MODIFY_QOS: no(NDIS_STATUS_NOT_ACCEPTED), // one at a time
    MODIFY_QOS_DONE: go('CONNECTED'),
    QOS_CHANGE_INDICATED: go('MODIFYING'),
    CLOSE_CALL: go('CLOSING'),
  },
  CLOSE_INDICATED: {
    MAKE_CALL: no(NDIS_STATUS_CALL_ACTIVE),
    MODIFY_QOS: no(NDIS_STATUS_CLOSING),
    MODIFY_QOS_DONE: go('CLOSE_INDICATED'),
    CLOSE_CALL: go('CLOSING'),
  },
  CLOSING: {
    MAKE_CALL: no(NDIS_STATUS_CALL_ACTIVE),
    MODIFY_QOS: no(NDIS_STATUS_CLOSING),
    MODIFY_QOS_DONE: go('CLOSING'),
    CLOSE_CALL: no(NDIS_STATUS_CLOSING),
    CLOSE_OK: go('IDLE'),
    CLOSE_FAIL: go('CONNECTED'), // K13 [POLICY]: the call stays up
  },
};

export function callTransition(
  state: CallState,
  event: CallEvent,
): Outcome<CallState, CallEffect> | undefined {
  return CALL_TABLE[state][event];
}

/** What the core does with a send (spec §4.3). */
export type SendPolicy = 'strict-core' | 'pass-through';

/**
 * Spec §4.3: forward (NDIS_STATUS_SUCCESS) or the status every NBL completes with.
 * `strict-core`: the table of §4.3, enforced by NDIS before the miniport is called.
 * `pass-through`: NDIS forwards everything but a reset (NDIS refuses protocol sends during a reset
 * whatever the policy, WDD:reset.md); the miniport must apply the table itself.
 */
export function sendVerdict(
  policy: SendPolicy,
  a: ActivationState,
  c: CallState,
  signalling: boolean,
  resetting: boolean,
): NdisStatus {
  if (resetting) return NDIS_STATUS_RESET_IN_PROGRESS;
  if (policy === 'pass-through') return NDIS_STATUS_SUCCESS;
  if (a === 'INACTIVE' || a === 'ACTIVATING' || a === 'DELETED') return NDIS_STATUS_VC_NOT_ACTIVATED;
  if (a === 'DEACTIVATING' || c === 'CLOSING' || c === 'CLOSE_INDICATED') return NDIS_STATUS_CLOSING;
  if (signalling) return NDIS_STATUS_SUCCESS;
  // A is ACTIVE or REACTIVATING (E18: old parameters still valid during a re-activation).
  return c === 'CONNECTED' || c === 'MODIFYING' ? NDIS_STATUS_SUCCESS : NDIS_STATUS_VC_NOT_ACTIVATED;
}
