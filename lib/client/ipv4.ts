/**
 * IPv4 for the reference client: the Internet checksum (RFC 1071), address parsing, the checks a
 * host makes on a received header before it answers (RFC 1122 §3.2.1), and the header of a reply.
 * Byte operations on (buffer, offset): nothing here allocates per packet.
 */
import { CondisError } from '../errors';
import { bytesEqual, putU16, u16 } from './ethernet';

export const IPV4_HLEN = 20;
export const IPPROTO_ICMP = 1;

/**
 * The Internet checksum of `len` bytes at `b[off]`: the one's complement of the one's complement
 * sum of big-endian 16-bit words (an odd last byte is padded with zero). `seed` adds a partial
 * sum computed elsewhere. Over a region that holds a correct checksum field the result is 0,
 * which is how received headers are verified.
 */
export function internetChecksum(b: Uint8Array, off: number, len: number, seed = 0): number {
  let sum = seed;
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i === end) sum += b[i]! << 8;
  // At most 2^16 words of 2^16 each: two folds bring any sum under 2^16.
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** '10.42.0.2' -> 4 bytes; throws ERR_CONDIS_INVALID_ARG on anything else. */
export function parseIpv4Address(s: string): Uint8Array {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  const parts = m ? m.slice(1).map(Number) : [];
  if (!m || parts.some((p) => p > 255)) {
    throw new CondisError('ERR_CONDIS_INVALID_ARG', `"${s}" is not a dotted-quad IPv4 address`, {
      option: 'ip',
    });
  }
  return Uint8Array.from(parts);
}

export function formatIpv4Address(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** What a host makes of a received IPv4 header (see checkIpv4). */
export const Ipv4Verdict = {
  /** Well formed, addressed to us, not a fragment: the payload is at the header length. */
  Ok: 0,
  /** Truncated, wrong version, header or total length inconsistent, bad header checksum. */
  Malformed: 1,
  /** Well formed but addressed to another host. */
  NotForUs: 2,
  /** A fragment (reassembly is out of scope) or a source no host may answer (RFC 1122 §3.2.1.3). */
  Unsupported: 3,
} as const;
export type Ipv4Verdict = (typeof Ipv4Verdict)[keyof typeof Ipv4Verdict];

/** Version/IHL byte -> header length in bytes. */
export function ipv4HeaderLength(b: Uint8Array, off: number): number {
  return (b[off]! & 0x0f) * 4;
}

/** Total Length field. */
export function ipv4TotalLength(b: Uint8Array, off: number): number {
  return u16(b, off + 2);
}

/**
 * Checks the IPv4 header at `b[off]`, `avail` bytes of frame from there (Ethernet padding may
 * follow the datagram, so the Total Length may be less than `avail`, never more).
 */
export function checkIpv4(b: Uint8Array, off: number, avail: number, ip: Uint8Array): Ipv4Verdict {
  if (avail < IPV4_HLEN || b[off]! >>> 4 !== 4) return Ipv4Verdict.Malformed;
  const hlen = ipv4HeaderLength(b, off);
  const total = ipv4TotalLength(b, off);
  if (hlen < IPV4_HLEN || hlen > avail || total < hlen || total > avail) return Ipv4Verdict.Malformed;
  if (internetChecksum(b, off, hlen) !== 0) return Ipv4Verdict.Malformed;
  if (!bytesEqual(b, off + 16, ip)) return Ipv4Verdict.NotForUs;
  // MF set or a fragment offset: only a whole datagram can be answered.
  if ((u16(b, off + 6) & 0x3fff) !== 0) return Ipv4Verdict.Unsupported;
  // A source of 0.0.0.0, a multicast/reserved (>= 224) or loopback network is never answered.
  const s0 = b[off + 12]!;
  if (s0 >= 224 || s0 === 127 || (s0 === 0 && b[off + 13] === 0 && b[off + 14] === 0 && b[off + 15] === 0)) {
    return Ipv4Verdict.Unsupported;
  }
  return Ipv4Verdict.Ok;
}

/**
 * Writes a 20-byte IPv4 header (no options) at `out[o]` with its checksum: from `ip` to the
 * source address of the request header at `req[reqOff]`, its TOS carried over (RFC 1122
 * §3.2.2.6: an echo reply keeps the request's TOS).
 */
export function writeIpv4ReplyHeader(
  out: Uint8Array,
  o: number,
  req: Uint8Array,
  reqOff: number,
  ip: Uint8Array,
  totalLength: number,
  id: number,
  ttl: number,
  protocol: number,
): void {
  out[o] = 0x45;
  out[o + 1] = req[reqOff + 1]!;
  putU16(out, o + 2, totalLength);
  putU16(out, o + 4, id & 0xffff);
  putU16(out, o + 6, 0);
  out[o + 8] = ttl;
  out[o + 9] = protocol;
  putU16(out, o + 10, 0);
  out.set(ip, o + 12);
  for (let i = 0; i < 4; i++) out[o + 16 + i] = req[reqOff + 12 + i]!;
  putU16(out, o + 10, internetChecksum(out, o, IPV4_HLEN));
}
