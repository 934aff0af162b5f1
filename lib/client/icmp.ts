/**
 * ICMP echo (RFC 792) for the reference client: recognise an echo request and write the echo
 * reply, which carries the request's identifier, sequence number and data unchanged (RFC 1122
 * §3.2.2.6), with type 0 and a checksum computed over the whole reply message.
 */

import { putU16 } from './ethernet';
import { internetChecksum } from './ipv4';

export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;
/** Type, code, checksum, identifier, sequence number. */
export const ICMP_ECHO_HLEN = 8;

export const IcmpVerdict = {
  /** An echo request with a correct checksum: answer it. */
  EchoRequest: 0,
  /** Shorter than an echo header, or a bad checksum. */
  Malformed: 1,
  /** Any other type or code. */
  Unsupported: 3,
} as const;
export type IcmpVerdict = (typeof IcmpVerdict)[keyof typeof IcmpVerdict];

/** Classifies the ICMP message of `len` bytes (the IPv4 payload) at `b[off]`. */
export function checkIcmp(b: Uint8Array, off: number, len: number): IcmpVerdict {
  if (len < ICMP_ECHO_HLEN) return IcmpVerdict.Malformed;
  if (internetChecksum(b, off, len) !== 0) return IcmpVerdict.Malformed;
  if (b[off] !== ICMP_ECHO_REQUEST || b[off + 1] !== 0) return IcmpVerdict.Unsupported;
  return IcmpVerdict.EchoRequest;
}

/**
 * Writes the echo reply to the request of `len` bytes at `req[reqOff]` at `out[o]`: the message
 * copied (identifier, sequence, data), type 0, code 0, checksum recomputed. Returns `len`.
 */
export function writeEchoReply(
  out: Uint8Array,
  o: number,
  req: Uint8Array,
  reqOff: number,
  len: number,
): number {
  // A byte loop, not set(subarray()): the view would be an allocation per packet.
  for (let i = 0; i < len; i++) out[o + i] = req[reqOff + i]!;
  out[o] = ICMP_ECHO_REPLY;
  out[o + 1] = 0;
  putU16(out, o + 2, 0);
  putU16(out, o + 2, internetChecksum(out, o, len));
  return len;
}
