/**
 * ARP and ICMP frames for the client's tests, built and checked independently of lib/client (own
 * checksum, own offsets), so that a mistake shared by the encoder and the decoder under test
 * cannot make the tests pass. Allocation is fine here.
 */

export const HOST_MAC = '02:00:00:00:42:01';
export const CLIENT_MAC = '02:00:00:00:42:02';
export const HOST_IP = '10.42.0.1';
export const CLIENT_IP = '10.42.0.2';

export const mac = (s: string): number[] => s.split(':').map((h) => Number.parseInt(h, 16));
export const ip4 = (s: string): number[] => s.split('.').map(Number);
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/** RFC 1071 checksum, written the slow obvious way. */
export function checksum(bytes: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2)
    sum += bytes[i]! * 256 + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return 0xffff - sum;
}

const be16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];

/** An ARP request from the host for `target` (broadcast unless `dst` is given). */
export function arpRequest(
  target: string,
  opts: { dst?: string; op?: number; sender?: string } = {},
): Uint8Array {
  const eth = [...(opts.dst ? mac(opts.dst) : BROADCAST), ...mac(HOST_MAC), 0x08, 0x06];
  const arp = [
    0,
    1,
    0x08,
    0x00,
    6,
    4,
    ...be16(opts.op ?? 1),
    ...mac(HOST_MAC),
    ...ip4(opts.sender ?? HOST_IP),
    0,
    0,
    0,
    0,
    0,
    0,
    ...ip4(target),
  ];
  return Uint8Array.from([...eth, ...arp, ...new Array(18).fill(0)]);
}

export interface EchoOpts {
  dst?: string;
  dstMac?: string;
  id?: number;
  seq?: number;
  payload?: number[];
  tos?: number;
  /** 2 = UDP instead of ICMP, etc. */
  protocol?: number;
  icmpType?: number;
  /** Corrupt the IPv4 header / ICMP checksum. */
  badIpChecksum?: boolean;
  badIcmpChecksum?: boolean;
  /** Set More Fragments. */
  fragment?: boolean;
}

/** An ICMP echo request from the host (10.42.0.1) to `opts.dst` (default the client). */
export function echoRequest(opts: EchoOpts = {}): Uint8Array {
  const payload = opts.payload ?? Array.from({ length: 56 }, (_, i) => (i * 7 + 3) & 0xff);
  const icmp = [opts.icmpType ?? 8, 0, 0, 0, ...be16(opts.id ?? 0x1234), ...be16(opts.seq ?? 1), ...payload];
  const ic = checksum(icmp) ^ (opts.badIcmpChecksum ? 0x5555 : 0);
  icmp[2] = ic >> 8;
  icmp[3] = ic & 0xff;
  const total = 20 + icmp.length;
  const ip = [
    0x45,
    opts.tos ?? 0,
    ...be16(total),
    0x56,
    0x78,
    opts.fragment ? 0x20 : 0x40,
    0,
    64,
    opts.protocol ?? 1,
    0,
    0,
    ...ip4(HOST_IP),
    ...ip4(opts.dst ?? CLIENT_IP),
  ];
  const hc = checksum(ip) ^ (opts.badIpChecksum ? 0x0f0f : 0);
  ip[10] = hc >> 8;
  ip[11] = hc & 0xff;
  const frame = [...mac(opts.dstMac ?? CLIENT_MAC), ...mac(HOST_MAC), 0x08, 0x00, ...ip, ...icmp];
  while (frame.length < 60) frame.push(0);
  return Uint8Array.from(frame);
}

export interface ArpReply {
  ethDst: string;
  ethSrc: string;
  op: number;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

const hexMac = (b: Uint8Array, o: number) =>
  Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
const dotted = (b: Uint8Array, o: number) => Array.from(b.subarray(o, o + 4)).join('.');
const rd16 = (b: Uint8Array, o: number) => b[o]! * 256 + b[o + 1]!;

export function parseArp(f: Uint8Array): ArpReply | undefined {
  if (f.length < 42 || rd16(f, 12) !== 0x0806) return undefined;
  return {
    ethDst: hexMac(f, 0),
    ethSrc: hexMac(f, 6),
    op: rd16(f, 20),
    sha: hexMac(f, 22),
    spa: dotted(f, 28),
    tha: hexMac(f, 32),
    tpa: dotted(f, 38),
  };
}

export interface EchoReply {
  ethDst: string;
  ethSrc: string;
  version: number;
  ihl: number;
  tos: number;
  totalLength: number;
  ttl: number;
  protocol: number;
  ipChecksumOk: boolean;
  src: string;
  dst: string;
  type: number;
  code: number;
  icmpChecksumOk: boolean;
  id: number;
  seq: number;
  payload: number[];
}

export function parseEcho(f: Uint8Array): EchoReply | undefined {
  if (f.length < 42 || rd16(f, 12) !== 0x0800) return undefined;
  const ihl = (f[14]! & 15) * 4;
  const total = rd16(f, 16);
  const icmp = f.subarray(14 + ihl, 14 + total);
  return {
    ethDst: hexMac(f, 0),
    ethSrc: hexMac(f, 6),
    version: f[14]! >> 4,
    ihl,
    tos: f[15]!,
    totalLength: total,
    ttl: f[22]!,
    protocol: f[23]!,
    ipChecksumOk: checksum(f.subarray(14, 14 + ihl)) === 0,
    src: dotted(f, 26),
    dst: dotted(f, 30),
    type: icmp[0]!,
    code: icmp[1]!,
    icmpChecksumOk: checksum(icmp) === 0,
    id: rd16(icmp, 4),
    seq: rd16(icmp, 6),
    payload: Array.from(icmp.subarray(8)),
  };
}
