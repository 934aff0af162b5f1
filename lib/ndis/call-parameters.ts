/**
 * CO_CALL_PARAMETERS and the flag values of spec §4.1 (from the public ReactOS ndis.h).
 * NDIS passes these objects by reference: a miniport that rounds a flow rate writes into the very
 * object the CM sees in its completion (E15), and the client's make-call buffer is the one handed
 * back in ProtocolClMakeCallComplete (E24).
 */

/** CO_CALL_PARAMETERS.Flags */
export const PERMANENT_VC = 0x01;
export const CALL_PARAMETERS_CHANGED = 0x02;
export const QUERY_CALL_PARAMETERS = 0x04;
export const BROADCAST_VC = 0x08;
export const MULTIPOINT_VC = 0x10;

/** CO_MEDIA_PARAMETERS.Flags */
export const RECEIVE_TIME_INDICATION = 0x001;
export const USE_TIME_STAMPS = 0x002;
export const TRANSMIT_VC = 0x004;
export const RECEIVE_VC = 0x008;
export const INDICATE_ERRED_PACKETS = 0x010;
export const INDICATE_END_OF_TX = 0x020;
export const RESERVE_RESOURCES_VC = 0x040;
export const ROUND_DOWN_FLOW = 0x080;
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
