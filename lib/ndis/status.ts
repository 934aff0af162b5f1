/**
 * NDIS_STATUS codes (CONDIS-SPEC §4.4), with the real names and 32-bit values from the public
 * ReactOS ndis.h re-declaration. Values are unsigned 32-bit numbers.
 *
 * Success is `status === NDIS_STATUS_SUCCESS`, never a sign or severity test:
 * NDIS_STATUS_NOT_ACCEPTED and NDIS_STATUS_CALL_ACTIVE are success-class numbers (high bits
 * clear) that mean refusal.
 */
export type NdisStatus = number;

/** The request succeeded (compare with ===, see the top of this file). */
export const NDIS_STATUS_SUCCESS = 0x00000000;
/** STATUS_PENDING. */
export const NDIS_STATUS_PENDING = 0x00000103;
/** Refused (a success-class number that means no): e.g. NdisCoDeleteVc on an active VC. */
export const NDIS_STATUS_NOT_ACCEPTED = 0x00010003;
/** The VC has a call active (a success-class number that means refusal). */
export const NDIS_STATUS_CALL_ACTIVE = 0x00010007;
/** Informational: closed. */
export const NDIS_STATUS_CLOSED = 0x40010007;
/**
 * Informational (NdisMIndicateStatusEx): the miniport starts a reset; sends complete with
 * RESET_IN_PROGRESS until RESET_END.
 */
export const NDIS_STATUS_RESET_START = 0x40010004;
/** Informational (NdisMIndicateStatusEx): the reset is over. */
export const NDIS_STATUS_RESET_END = 0x40010005;
/** STATUS_UNSUCCESSFUL. */
export const NDIS_STATUS_FAILURE = 0xc0000001;
/** STATUS_INSUFFICIENT_RESOURCES. */
export const NDIS_STATUS_RESOURCES = 0xc000009a;
/** STATUS_NOT_SUPPORTED. */
export const NDIS_STATUS_NOT_SUPPORTED = 0xc00000bb;
/** STATUS_INVALID_DEVICE_STATE. */
export const NDIS_STATUS_INVALID_STATE = 0xc0000184;
/** STATUS_INVALID_PARAMETER (used for stale or unknown handles when the verifier does not throw). */
export const NDIS_STATUS_INVALID_PARAMETER = 0xc000000d;
/** The VC or call is closing or deactivating: a send on it completes with this (spec §4.3). */
export const NDIS_STATUS_CLOSING = 0xc0010002;
/** A pended request was aborted, e.g. a deactivation that missed its drain deadline. */
export const NDIS_STATUS_REQUEST_ABORTED = 0xc001000c;
/** A send during a miniport reset (spec §1.2-J). */
export const NDIS_STATUS_RESET_IN_PROGRESS = 0xc001000d;
/** NDIS's closing-while-indicating status (not raised by condis-tap's own code). */
export const NDIS_STATUS_CLOSING_INDICATING = 0xc001000e;
/** NDIS's generic status for a malformed packet (not raised by condis-tap's own code). */
export const NDIS_STATUS_INVALID_PACKET = 0xc001000f;
/** NDIS's generic status for a wrong length (not raised by condis-tap's own code). */
export const NDIS_STATUS_INVALID_LENGTH = 0xc0010014;
/** Call parameters the miniport or call manager cannot use (e.g. no VID, a VID in use). */
export const NDIS_STATUS_INVALID_DATA = 0xc0010015;
/** An unusable SAP. */
export const NDIS_STATUS_INVALID_SAP = 0xc0010020;
/** The SAP is registered already. */
export const NDIS_STATUS_SAP_IN_USE = 0xc0010021;
/** An unusable called address. */
export const NDIS_STATUS_INVALID_ADDRESS = 0xc0010022;
/** A send on a VC that is not active (spec §4.3). */
export const NDIS_STATUS_VC_NOT_ACTIVATED = 0xc0010023;
/** The called party is unreachable. */
export const NDIS_STATUS_DEST_OUT_OF_ORDER = 0xc0010024;
/** No VC available for the call. */
export const NDIS_STATUS_VC_NOT_AVAILABLE = 0xc0010025;
/** Spelled as in the header (sic). */
export const NDIS_STATUS_INCOMPATABLE_QOS = 0xc0010027;
/**
 * NDIS 6 alias of the NTSTATUS STATUS_NDIS_REQUEST_ABORTED = 0xC023000C (value given by the
 * issue; the spec found no citable copy of that ntstatus.h line).
 */
export const NDIS_STATUS_SEND_ABORTED = 0xc023000c;
/** NDIS 6 alias of the NTSTATUS STATUS_NDIS_PAUSED = 0xC023002A (value given by the issue). */
export const NDIS_STATUS_PAUSED = 0xc023002a;

/** Every status above, by name. */
export const NDIS_STATUS = {
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_CALL_ACTIVE,
  NDIS_STATUS_CLOSED,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_INVALID_STATE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NDIS_STATUS_CLOSING_INDICATING,
  NDIS_STATUS_INVALID_PACKET,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_INVALID_SAP,
  NDIS_STATUS_SAP_IN_USE,
  NDIS_STATUS_INVALID_ADDRESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  NDIS_STATUS_DEST_OUT_OF_ORDER,
  NDIS_STATUS_VC_NOT_AVAILABLE,
  NDIS_STATUS_INCOMPATABLE_QOS,
  NDIS_STATUS_SEND_ABORTED,
  NDIS_STATUS_PAUSED,
} as const;

const names = new Map<number, string>();
for (const [name, value] of Object.entries(NDIS_STATUS)) names.set(value, name.slice('NDIS_STATUS_'.length));

/** Short name of a status ("PENDING", "CLOSING"), or its hex value when unknown. */
export function statusName(status: NdisStatus): string {
  return names.get(status) ?? `0x${(status >>> 0).toString(16).padStart(8, '0')}`;
}

/** The only success test: equality with NDIS_STATUS_SUCCESS. */
export function isSuccess(status: NdisStatus): boolean {
  return status === NDIS_STATUS_SUCCESS;
}
