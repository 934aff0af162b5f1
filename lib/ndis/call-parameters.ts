/**
 * CO_CALL_PARAMETERS and the flag values of spec §4.1 (from the public ReactOS ndis.h).
 * NDIS passes these objects by reference: a miniport that rounds a flow rate writes into the very
 * object the CM sees in its completion (E15), and the client's make-call buffer is the one handed
 * back in ProtocolClMakeCallComplete (E24).
 */

/** CO_CALL_PARAMETERS.Flags: a permanent VC (no signalling). */
export const PERMANENT_VC = 0x01;
/** CO_CALL_PARAMETERS.Flags: the call manager or the peer changed the parameters asked for. */
export const CALL_PARAMETERS_CHANGED = 0x02;
/** CO_CALL_PARAMETERS.Flags: query the parameters in force. */
export const QUERY_CALL_PARAMETERS = 0x04;
/** CO_CALL_PARAMETERS.Flags: a broadcast VC. */
export const BROADCAST_VC = 0x08;
/** CO_CALL_PARAMETERS.Flags: a point-to-multipoint VC (parties are not modelled here). */
export const MULTIPOINT_VC = 0x10;

/** CO_MEDIA_PARAMETERS.Flags: stamp receives with their arrival time. */
export const RECEIVE_TIME_INDICATION = 0x001;
/** CO_MEDIA_PARAMETERS.Flags: use the time stamps sends carry. */
export const USE_TIME_STAMPS = 0x002;
/** CO_MEDIA_PARAMETERS.Flags: the VC sends. */
export const TRANSMIT_VC = 0x004;
/** CO_MEDIA_PARAMETERS.Flags: the VC receives. */
export const RECEIVE_VC = 0x008;
/** CO_MEDIA_PARAMETERS.Flags: indicate received packets with errors too. */
export const INDICATE_ERRED_PACKETS = 0x010;
/** CO_MEDIA_PARAMETERS.Flags: complete a send when it has left the wire. */
export const INDICATE_END_OF_TX = 0x020;
/** CO_MEDIA_PARAMETERS.Flags: reserve the VC's resources at activation. */
export const RESERVE_RESOURCES_VC = 0x040;
/** CO_MEDIA_PARAMETERS.Flags: the miniport may round a flow value down to what it can carry (E15). */
export const ROUND_DOWN_FLOW = 0x080;
/** CO_MEDIA_PARAMETERS.Flags: the miniport may round a flow value up. */
export const ROUND_UP_FLOW = 0x100;

/** CO_FLOW_PARAMETERS, reduced to what a TAP-backed VC can honour. */
export interface CoFlowParameters {
  /** Bytes per second. */
  tokenRate: number;
  peakBandwidth: number;
  maxSduSize: number;
}

/** CO_CALL_MANAGER_PARAMETERS */
export interface CoCallManagerParameters {
  transmit: CoFlowParameters;
  receive: CoFlowParameters;
  /** Medium-specific signalling data (address, SAP...). */
  specific?: unknown;
}

/** CO_MEDIA_PARAMETERS */
export interface CoMediaParameters {
  flags: number;
  /** e.g. the VLAN id a condis-tap VC is carried on. */
  specific?: unknown;
}

/** CO_CALL_PARAMETERS */
export interface CoCallParameters {
  flags: number;
  callMgrParameters?: CoCallManagerParameters;
  mediaParameters?: CoMediaParameters;
}

/** A fresh parameter set (re-activation after a deactivation must use a new one, E50). */
export function makeCallParameters(init: Partial<CoCallParameters> = {}): CoCallParameters {
  return { flags: 0, ...init };
}
