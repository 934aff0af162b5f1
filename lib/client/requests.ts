/**
 * The asking side of ARP and ICMP echo: the frames a pinger sends (an ARP request, an echo
 * request) and the answers it looks for in what comes back. PingAnswerer (ping-answerer.ts) is the
 * answering side. Used by WirePinger (pinger.ts) and the node's pinger (lib/node/call-pinger.ts).
 * Allocation per frame is fine here: these are traffic generators, not the answering hot path.
 */
import { ARP_LEN, ARP_REPLY, ARP_REQUEST, ARP_SHA, ARP_SPA, ARP_TPA } from './arp';
import { bytesEqual, ETH_HLEN, ETH_ZLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, putU16, u16 } from './ethernet';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST } from './icmp';
import { IPPROTO_ICMP, IPV4_HLEN, internetChecksum } from './ipv4';

/** ping's default payload (56 bytes of data after the 8-byte ICMP header). */
export const ECHO_DATA = 56;

/**
 * A broadcast ARP request from (`mac`, `ip`) for `target`. With `target` equal to `ip` it is a
 * gratuitous ARP: it asks nothing and announces the sender's address (RFC 5227 §3).
 */
export function arpRequestFrame(mac: Uint8Array, ip: Uint8Array, target: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETH_ZLEN);
  f.fill(0xff, 0, 6);
  f.set(mac, 6);
  putU16(f, 12, ETHERTYPE_ARP);
  const a = ETH_HLEN;
  f.set([0, 1, 0x08, 0x00, 6, 4], a);
  putU16(f, a + 6, ARP_REQUEST);
  f.set(mac, a + ARP_SHA);
  f.set(ip, a + ARP_SPA);
  f.set(target, a + ARP_TPA);
  return f;
}

/** An ICMP echo request from (`srcMac`, `srcIp`) to (`dstMac`, `dstIp`), identifier `id`, sequence `seq`. */
export function echoRequestFrame(
  dstMac: Uint8Array,
  srcMac: Uint8Array,
  srcIp: Uint8Array,
  dstIp: Uint8Array,
  id: number,
  seq: number,
  data = ECHO_DATA,
): Uint8Array {
  const icmpLen = 8 + data;
  const f = new Uint8Array(ETH_HLEN + IPV4_HLEN + icmpLen);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  putU16(f, 12, ETHERTYPE_IPV4);
  const ip = ETH_HLEN;
  const total = IPV4_HLEN + icmpLen;
  f.set([0x45, 0, total >> 8, total & 0xff, 0, 0, 0x40, 0, 64, IPPROTO_ICMP, 0, 0], ip);
  f.set(srcIp, ip + 12);
  f.set(dstIp, ip + 16);
  putU16(f, ip + 10, internetChecksum(f, ip, IPV4_HLEN));
  const o = ip + IPV4_HLEN;
  f[o] = ICMP_ECHO_REQUEST;
  putU16(f, o + 4, id & 0xffff);
  putU16(f, o + 6, seq & 0xffff);
  for (let k = 0; k < data; k++) f[o + 8 + k] = k & 0xff;
  putU16(f, o + 2, internetChecksum(f, o, icmpLen));
  return f;
}

/**
 * The sender of the ARP packet in the frame at `b[off..off+len)` (request or reply), or null if it
 * is no ARP packet for Ethernet/IPv4. `reply` true: replies only.
 */
export function arpSender(
  b: Uint8Array,
  off: number,
  len: number,
  reply = false,
): { mac: Uint8Array; ip: Uint8Array } | null {
  if (len < ETH_HLEN + ARP_LEN || u16(b, off + 12) !== ETHERTYPE_ARP) return null;
  const a = off + ETH_HLEN;
  if (u16(b, a) !== 1 || u16(b, a + 2) !== 0x0800 || b[a + 4] !== 6 || b[a + 5] !== 4) return null;
  const op = u16(b, a + 6);
  if (reply ? op !== ARP_REPLY : op !== ARP_REQUEST && op !== ARP_REPLY) return null;
  return { mac: b.slice(a + ARP_SHA, a + ARP_SHA + 6), ip: b.slice(a + ARP_SPA, a + ARP_SPA + 4) };
}

/** The sequence number of an ICMP echo reply with identifier `id` from `fromIp`, or -1. */
export function echoReplySeq(
  b: Uint8Array,
  off: number,
  len: number,
  id: number,
  fromIp?: Uint8Array,
): number {
  if (len < ETH_HLEN + IPV4_HLEN + 8 || u16(b, off + 12) !== ETHERTYPE_IPV4) return -1;
  const ip = off + ETH_HLEN;
  if (b[ip + 9] !== IPPROTO_ICMP) return -1;
  if (fromIp && !bytesEqual(b, ip + 12, fromIp)) return -1;
  const icmp = ip + (b[ip]! & 0x0f) * 4;
  if (icmp + 8 > off + len || b[icmp] !== ICMP_ECHO_REPLY || u16(b, icmp + 4) !== (id & 0xffff)) return -1;
  return u16(b, icmp + 6);
}
