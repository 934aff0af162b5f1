/**
 * IPv4 / TCP / UDP frames for the offload tests: built byte by byte, with the checksums a host
 * stack would leave (complete, or partial as Linux's CHECKSUM_PARTIAL: the pseudo-header sum in
 * the L4 checksum field, the rest for the device to add), and checks of what came back.
 */
import { MAC_A, MAC_B } from './frames';

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
const ETH = 14;
const IP4 = 20;
const TCP = 20;
const UDP = 8;

function sum16(b: Uint8Array, from: number, to: number, acc = 0): number {
  let s = acc;
  for (let i = from; i + 1 < to; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if ((to - from) & 1) s += b[to - 1]! << 8;
  return s;
}

function fold(s: number): number {
  let v = s;
  while (v > 0xffff) v = (v & 0xffff) + Math.floor(v / 0x10000);
  return v;
}

export interface InetFrameOptions {
  proto: typeof IPPROTO_TCP | typeof IPPROTO_UDP;
  payload: number;
  /** 'full': a correct L4 checksum; 'partial': the pseudo-header seed (NEEDS_CSUM); 'zero'. */
  csum: 'full' | 'partial' | 'zero';
  src?: readonly number[];
  dst?: readonly number[];
  seq?: number;
}

export interface InetFrame {
  frame: Uint8Array;
  /** Where the L4 header starts (csum_start) and where its checksum lies from there (csum_offset). */
  csumStart: number;
  csumOffset: number;
  /** Ethernet + IP + L4 header bytes (hdr_len of a GSO frame). */
  hdrLen: number;
}

/** An untagged Ethernet + IPv4 + TCP/UDP frame with a patterned payload. */
export function inetFrame(o: InetFrameOptions): InetFrame {
  const l4 = o.proto === IPPROTO_TCP ? TCP : UDP;
  const f = new Uint8Array(ETH + IP4 + l4 + o.payload);
  f.set(MAC_B, 0);
  f.set(MAC_A, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  const ip = ETH;
  const total = IP4 + l4 + o.payload;
  f[ip] = 0x45;
  f[ip + 2] = total >>> 8;
  f[ip + 3] = total & 0xff;
  f[ip + 6] = 0x40; // DF
  f[ip + 8] = 64;
  f[ip + 9] = o.proto;
  f.set(o.src ?? [10, 213, 0, 1], ip + 12);
  f.set(o.dst ?? [10, 213, 0, 2], ip + 16);
  const ipc = (~fold(sum16(f, ip, ip + IP4)) & 0xffff) >>> 0;
  f[ip + 10] = ipc >>> 8;
  f[ip + 11] = ipc & 0xff;
  const t = ip + IP4;
  f[t] = 0x9c;
  f[t + 1] = 0x40; // port 40000
  f[t + 2] = 0x14;
  f[t + 3] = 0x51; // port 5201
  if (o.proto === IPPROTO_TCP) {
    const seq = o.seq ?? 1000;
    f[t + 4] = (seq >>> 24) & 0xff;
    f[t + 5] = (seq >>> 16) & 0xff;
    f[t + 6] = (seq >>> 8) & 0xff;
    f[t + 7] = seq & 0xff;
    f[t + 12] = 5 << 4;
    f[t + 13] = 0x18; // PSH ACK
    f[t + 14] = 0xff;
    f[t + 15] = 0xff;
  } else {
    f[t + 4] = (l4 + o.payload) >>> 8;
    f[t + 5] = (l4 + o.payload) & 0xff;
  }
  for (let i = 0; i < o.payload; i++) f[t + l4 + i] = (i * 7 + 3) & 0xff;
  const csumOffset = o.proto === IPPROTO_TCP ? 16 : 6;
  if (o.csum !== 'zero') {
    const seed = fold(pseudoSum(f, ip, o.proto, l4 + o.payload));
    const v = o.csum === 'partial' ? seed : (~fold(sum16(f, t, f.length, seed)) & 0xffff) >>> 0;
    f[t + csumOffset] = v >>> 8;
    f[t + csumOffset + 1] = v & 0xff;
  }
  return { frame: f, csumStart: t, csumOffset, hdrLen: t + l4 };
}

function pseudoSum(f: Uint8Array, ip: number, proto: number, l4len: number): number {
  return sum16(f, ip + 12, ip + 20) + proto + l4len;
}

/**
 * Whether the L4 checksum of the IPv4 packet at `ip` in `f` is correct (pseudo header included),
 * for a TCP or UDP packet whose length the IP header gives.
 */
export function l4ChecksumOk(f: Uint8Array, ip: number): boolean {
  const ihl = (f[ip]! & 0x0f) * 4;
  const total = (f[ip + 2]! << 8) | f[ip + 3]!;
  const proto = f[ip + 9]!;
  const l4len = total - ihl;
  const s = sum16(f, ip + ihl, ip + ihl + l4len, pseudoSum(f, ip, proto, l4len));
  return fold(s) === 0xffff;
}

/** Whether the IPv4 header checksum at `ip` is correct. */
export function ipChecksumOk(f: Uint8Array, ip: number): boolean {
  return fold(sum16(f, ip, ip + (f[ip]! & 0x0f) * 4)) === 0xffff;
}
