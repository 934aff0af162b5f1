/**
 * ARP (RFC 826) for Ethernet and IPv4, as much as a host needs to be found: recognise a request
 * for its own address and write the reply. The client keeps no ARP cache: it answers to the
 * sender hardware address of each request, which is all an echo reply needs (it goes back to the
 * request's source MAC).
 */
import { bytesEqual, putU16, u16 } from './ethernet';

/** An ARP packet for Ethernet/IPv4: 8 bytes of header, then sha(6) spa(4) tha(6) tpa(4). */
export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
/** Offsets inside the ARP packet. */
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;

export const ArpVerdict = {
  /** A request for our address: answer it. */
  Request: 0,
  /** Shorter than an Ethernet/IPv4 ARP packet, or a hardware/protocol pair it cannot be. */
  Malformed: 1,
  /** A request for another address. */
  NotForUs: 2,
  /** A reply, a gratuitous announcement, another operation: nothing to answer. */
  Unsupported: 3,
} as const;
export type ArpVerdict = (typeof ArpVerdict)[keyof typeof ArpVerdict];

/** Classifies the ARP packet at `b[off]` (`avail` bytes left in the frame). */
export function checkArp(b: Uint8Array, off: number, avail: number, ip: Uint8Array): ArpVerdict {
  if (avail < ARP_LEN) return ArpVerdict.Malformed;
  // htype Ethernet (1), ptype IPv4, hlen 6, plen 4.
  if (u16(b, off) !== 1 || u16(b, off + 2) !== 0x0800 || b[off + 4] !== 6 || b[off + 5] !== 4) {
    return ArpVerdict.Malformed;
  }
  if (u16(b, off + 6) !== ARP_REQUEST) return ArpVerdict.Unsupported;
  if (!bytesEqual(b, off + ARP_TPA, ip)) return ArpVerdict.NotForUs;
  // A gratuitous request (sender = target) announces; it asks nothing.
  if (bytesEqual(b, off + ARP_SPA, ip)) return ArpVerdict.Unsupported;
  return ArpVerdict.Request;
}

/**
 * Writes the reply to the request at `req[reqOff]` at `out[o]`: operation 2, we are the sender
 * (`mac`, `ip`), the requester is the target. Returns ARP_LEN.
 */
export function writeArpReply(
  out: Uint8Array,
  o: number,
  req: Uint8Array,
  reqOff: number,
  mac: Uint8Array,
  ip: Uint8Array,
): number {
  for (let i = 0; i < 6; i++) out[o + i] = req[reqOff + i]!; // htype, ptype, hlen, plen
  putU16(out, o + 6, ARP_REPLY);
  out.set(mac, o + ARP_SHA);
  out.set(ip, o + ARP_SPA);
  for (let i = 0; i < 6; i++) out[o + ARP_THA + i] = req[reqOff + ARP_SHA + i]!;
  for (let i = 0; i < 4; i++) out[o + ARP_TPA + i] = req[reqOff + ARP_SPA + i]!;
  return ARP_LEN;
}
