/**
 * The reference CoNDIS client (lib/client): exports only. responder.ts is the protocol driver
 * (PingResponder), pinger.ts the one that pings it over the wire (WirePinger); ethernet.ts,
 * arp.ts, ipv4.ts and icmp.ts the byte-level parsing and encoding they speak.
 */
export { ARP_LEN, ARP_REPLY, ARP_REQUEST, ArpVerdict, checkArp, writeArpReply } from './arp';
export {
  BridgeCounters,
  BridgeDrops,
  type BridgeEndOptions,
  type BridgeState,
  carryOffloadInfo,
  NdisBridge,
  type NdisBridgeOptions,
} from './bridge';
export { ETH_HLEN, ETH_ZLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from './ethernet';
export { checkIcmp, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IcmpVerdict, writeEchoReply } from './icmp';
export {
  checkIpv4,
  formatIpv4Address,
  IPPROTO_ICMP,
  IPV4_HLEN,
  Ipv4Verdict,
  internetChecksum,
  parseIpv4Address,
  writeIpv4ReplyHeader,
} from './ipv4';
export { WirePinger, type WirePingerOptions } from './pinger';
export {
  PingResponder,
  type PingResponderOptions,
  ResponderCounters,
  type ResponderState,
} from './responder';
