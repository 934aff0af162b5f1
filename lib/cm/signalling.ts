/**
 * The condis-tap signalling protocol: its wire format, encode and decode. Pure functions, no I/O.
 *
 * A Q.931-shaped protocol reduced to what a point-to-point VC needs. Messages travel in Ethernet
 * frames under the IEEE local experimental ethertype 0x88B5: untagged on queue pair 0 for the MCM;
 * on the stand-alone CM's signalling VC, whose VID signalling-vc.ts explains. Every message
 * names its call by a call reference; the side that did not originate the call sets the call
 * reference flag (Q.931 §4.3), so two calls set up in opposite directions with the same number
 * never mix. All numbers are big-endian (network order).
 *
 *   offset size field
 *   ------ ---- -----------------------------------------------------------------------------
 *        0    6 destination MAC (the peer, or ff:ff:ff:ff:ff:ff for a broadcast SETUP)
 *        6    6 source MAC (the sender's own)
 *       12    2 ethertype 0x88B5
 *       14    1 protocol discriminator 0xC7 ("condis")
 *       15    1 version (1)
 *       16    1 message type: SETUP 0x05, CONNECT 0x07, CONNECT ACK 0x0F, RELEASE 0x4D,
 *                 RELEASE COMPLETE 0x5A, STATUS ENQUIRY 0x75, STATUS 0x7D (the Q.931 codes)
 *       17    1 reserved (0)
 *       18    2 call reference: bit 15 = flag (0 from the originating side, 1 towards it),
 *                 bits 0..14 = value (1..32767)
 *       20    2 body length L
 *       22    L body, by message type:
 *                 SETUP           VC id (2) | called SAP (4) | call parameters block (36)
 *                 CONNECT         (empty)
 *                 CONNECT ACK     (empty)
 *                 RELEASE         cause (1) | reserved (1) | NDIS_STATUS (4)
 *                 RELEASE COMPLETE cause (1) | reserved (1) | NDIS_STATUS (4)
 *                 STATUS ENQUIRY  (empty)
 *                 STATUS          cause (1) | call state (1): cause 30 "response to STATUS
 *                                 ENQUIRY", the Q.931 number of the sender's call state
 *   frames are padded with zeros to the Ethernet minimum of 60 bytes; decode reads L, not the
 *   frame length.
 *
 *   call parameters block (36 bytes), as the SENDER sees its call:
 *        0    4 CO_CALL_PARAMETERS.Flags
 *        4    4 CO_MEDIA_PARAMETERS.Flags
 *        8   12 transmit CO_FLOW_PARAMETERS: tokenRate (4) | peakBandwidth (4) | maxSduSize (4)
 *       20   12 receive CO_FLOW_PARAMETERS: same layout
 *       32    4 reserved (0)
 *   The receiver swaps transmit and receive: what the caller transmits, the callee receives.
 *
 * The VC id is the VID the call is carried on (802.1Q, 1..4094): both ends bind the VC to it.
 * The NDIS_STATUS in RELEASE / RELEASE COMPLETE is what the far end's NDIS said (a client's
 * rejection status, a failed activation...), so a caller's make-call completes with the very
 * status the callee's client gave; the cause says the same in Q.850 terms for a reader of the wire.
 *
 * STATUS ENQUIRY / STATUS are the liveness probe of a connected call (Q.931 §5.8.10, reduced; the
 * rule is in call-control.ts): either end asks, the other answers with its call state. A STATUS
 * ENQUIRY (or any message but SETUP, CONNECT ACK and RELEASE COMPLETE) for a call reference the
 * receiver does not know is answered with RELEASE COMPLETE, cause 81 "invalid call reference".
 */
import { condisCallParameters } from '../medium/params';
import type { CoCallParameters, CoFlowParameters } from '../ndis/call-parameters';
import type { NdisStatus } from '../ndis/status';

/** IEEE 802 local experimental ethertype 1. */
export const ETHERTYPE_CONDIS_SIGNALLING = 0x88b5;
export const PROTOCOL_DISCRIMINATOR = 0xc7;
export const PROTOCOL_VERSION = 1;

export const MessageType = {
  SETUP: 0x05,
  CONNECT: 0x07,
  CONNECT_ACK: 0x0f,
  RELEASE: 0x4d,
  RELEASE_COMPLETE: 0x5a,
  STATUS_ENQUIRY: 0x75,
  STATUS: 0x7d,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const typeNames = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]));
export function messageTypeName(t: number): string {
  return typeNames.get(t) ?? `0x${t.toString(16)}`;
}

/** Q.850 cause values used by the call manager. */
export const Cause = {
  NORMAL_CLEARING: 16,
  CALL_REJECTED: 21,
  RESPONSE_TO_STATUS_ENQUIRY: 30,
  NO_CIRCUIT_AVAILABLE: 34,
  RESOURCE_UNAVAILABLE: 47,
  INVALID_CALL_REFERENCE: 81,
  INCOMPATIBLE_DESTINATION: 88,
  RECOVERY_ON_TIMER_EXPIRY: 102,
} as const;
export type Cause = (typeof Cause)[keyof typeof Cause];

export const HEADER_LENGTH = 22;
export const PARAMS_LENGTH = 36;
export const SETUP_BODY_LENGTH = 2 + 4 + PARAMS_LENGTH;
export const RELEASE_BODY_LENGTH = 6;
export const STATUS_BODY_LENGTH = 2;
export const MIN_FRAME = 60;
export const CALL_REF_FLAG = 0x8000;
export const MAX_CALL_REF = 0x7fff;
export const BROADCAST_MAC: Uint8Array = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** The call parameters a SETUP carries (enough to rebuild the miniport's CoCallParameters). */
export interface CallParametersBlock {
  flags: number;
  mediaFlags: number;
  transmit: CoFlowParameters;
  receive: CoFlowParameters;
}

interface Base {
  dst: Uint8Array;
  src: Uint8Array;
  /** Call reference value, 1..32767. */
  callRef: number;
  /** Call reference flag: set in messages sent by the side that did not originate the call. */
  toOriginator: boolean;
}
export interface SetupMessage extends Base {
  type: typeof MessageType.SETUP;
  vcId: number;
  sap: number;
  params: CallParametersBlock;
}
export interface ConnectMessage extends Base {
  type: typeof MessageType.CONNECT | typeof MessageType.CONNECT_ACK;
}
export interface ReleaseMessage extends Base {
  type: typeof MessageType.RELEASE | typeof MessageType.RELEASE_COMPLETE;
  cause: number;
  status: NdisStatus;
}
/** STATUS ENQUIRY: "are you still there, and in which state is this call?" (no body). */
export interface StatusEnquiryMessage extends Base {
  type: typeof MessageType.STATUS_ENQUIRY;
}
/** STATUS: the answer; `callState` is the Q.931 call state number (10 = active). */
export interface StatusMessage extends Base {
  type: typeof MessageType.STATUS;
  cause: number;
  callState: number;
}
export type SignallingMessage =
  | SetupMessage
  | ConnectMessage
  | ReleaseMessage
  | StatusEnquiryMessage
  | StatusMessage;

/** Encodes a message into a fresh frame (signalling is not a hot path: one allocation per message). */
export function encodeMessage(m: SignallingMessage): Uint8Array {
  const bodyLength =
    m.type === MessageType.SETUP
      ? SETUP_BODY_LENGTH
      : m.type === MessageType.RELEASE || m.type === MessageType.RELEASE_COMPLETE
        ? RELEASE_BODY_LENGTH
        : m.type === MessageType.STATUS
          ? STATUS_BODY_LENGTH
          : 0;
  const f = new Uint8Array(Math.max(MIN_FRAME, HEADER_LENGTH + bodyLength));
  const dv = new DataView(f.buffer);
  f.set(m.dst, 0);
  f.set(m.src, 6);
  dv.setUint16(12, ETHERTYPE_CONDIS_SIGNALLING);
  f[14] = PROTOCOL_DISCRIMINATOR;
  f[15] = PROTOCOL_VERSION;
  f[16] = m.type;
  dv.setUint16(18, (m.callRef & MAX_CALL_REF) | (m.toOriginator ? CALL_REF_FLAG : 0));
  dv.setUint16(20, bodyLength);
  const b = HEADER_LENGTH;
  if (m.type === MessageType.SETUP) {
    dv.setUint16(b, m.vcId);
    dv.setUint32(b + 2, m.sap >>> 0);
    writeParams(dv, b + 6, m.params);
  } else if (m.type === MessageType.RELEASE || m.type === MessageType.RELEASE_COMPLETE) {
    f[b] = m.cause;
    dv.setUint32(b + 2, m.status >>> 0);
  } else if (m.type === MessageType.STATUS) {
    f[b] = m.cause;
    f[b + 1] = m.callState;
  }
  return f;
}

/**
 * Decodes the frame at bytes[offset, offset + length). undefined when it is not a signalling
 * message of this version or is malformed (short, unknown type, body too short, call reference 0).
 */
export function decodeMessage(
  bytes: Uint8Array,
  offset: number,
  length: number,
): SignallingMessage | undefined {
  if (length < HEADER_LENGTH) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, length);
  if (dv.getUint16(12) !== ETHERTYPE_CONDIS_SIGNALLING) return undefined;
  if (dv.getUint8(14) !== PROTOCOL_DISCRIMINATOR || dv.getUint8(15) !== PROTOCOL_VERSION) return undefined;
  const type = dv.getUint8(16);
  const cr = dv.getUint16(18);
  const bodyLength = dv.getUint16(20);
  if (HEADER_LENGTH + bodyLength > length) return undefined;
  const base: Base = {
    dst: bytes.slice(offset, offset + 6),
    src: bytes.slice(offset + 6, offset + 12),
    callRef: cr & MAX_CALL_REF,
    toOriginator: (cr & CALL_REF_FLAG) !== 0,
  };
  if (base.callRef === 0) return undefined;
  const b = HEADER_LENGTH;
  switch (type) {
    case MessageType.SETUP:
      if (bodyLength < SETUP_BODY_LENGTH) return undefined;
      return {
        ...base,
        type,
        vcId: dv.getUint16(b),
        sap: dv.getUint32(b + 2),
        params: readParams(dv, b + 6),
      };
    case MessageType.CONNECT:
    case MessageType.CONNECT_ACK:
      return { ...base, type };
    case MessageType.RELEASE:
    case MessageType.RELEASE_COMPLETE:
      if (bodyLength < RELEASE_BODY_LENGTH) return undefined;
      return { ...base, type, cause: dv.getUint8(b), status: dv.getUint32(b + 2) };
    case MessageType.STATUS_ENQUIRY:
      return { ...base, type };
    case MessageType.STATUS:
      if (bodyLength < STATUS_BODY_LENGTH) return undefined;
      return { ...base, type, cause: dv.getUint8(b), callState: dv.getUint8(b + 1) };
    default:
      return undefined;
  }
}

function writeParams(dv: DataView, o: number, p: CallParametersBlock): void {
  dv.setUint32(o, p.flags >>> 0);
  dv.setUint32(o + 4, p.mediaFlags >>> 0);
  writeFlow(dv, o + 8, p.transmit);
  writeFlow(dv, o + 20, p.receive);
}

function readParams(dv: DataView, o: number): CallParametersBlock {
  return {
    flags: dv.getUint32(o),
    mediaFlags: dv.getUint32(o + 4),
    transmit: readFlow(dv, o + 8),
    receive: readFlow(dv, o + 20),
  };
}

function writeFlow(dv: DataView, o: number, f: CoFlowParameters): void {
  dv.setUint32(o, f.tokenRate >>> 0);
  dv.setUint32(o + 4, f.peakBandwidth >>> 0);
  dv.setUint32(o + 8, f.maxSduSize >>> 0);
}

function readFlow(dv: DataView, o: number): CoFlowParameters {
  return { tokenRate: dv.getUint32(o), peakBandwidth: dv.getUint32(o + 4), maxSduSize: dv.getUint32(o + 8) };
}

const NO_FLOW: CoFlowParameters = { tokenRate: 0, peakBandwidth: 0, maxSduSize: 0 };

/** The block a SETUP carries for the caller's parameters. */
export function paramsBlockOf(p: CoCallParameters): CallParametersBlock {
  return {
    flags: p.flags,
    mediaFlags: p.mediaParameters?.flags ?? 0,
    transmit: { ...(p.callMgrParameters?.transmit ?? NO_FLOW) },
    receive: { ...(p.callMgrParameters?.receive ?? NO_FLOW) },
  };
}

/**
 * The callee's CoCallParameters for a SETUP: a fresh set (E50) for VC id `vcId`, transmit and
 * receive swapped (the caller's transmit is the callee's receive).
 */
export function calleeParameters(vcId: number, block: CallParametersBlock): CoCallParameters {
  const p = condisCallParameters(vcId, { flags: block.flags });
  p.mediaParameters!.flags |= block.mediaFlags;
  p.callMgrParameters = { transmit: { ...block.receive }, receive: { ...block.transmit } };
  return p;
}

export function macToString(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isBroadcast(mac: Uint8Array): boolean {
  return sameMac(mac, BROADCAST_MAC);
}
