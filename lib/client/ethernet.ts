/**
 * Ethernet II framing for the reference client: the few offsets and constants it reads and
 * writes, as plain byte operations on (buffer, offset) so that nothing allocates per frame (no
 * DataView, no subarray). Frames on a condis-tap VC arrive untagged: the device strips the 802.1Q
 * tag that names the VC and puts it back on the way out.
 */

/** Destination MAC, source MAC, ethertype. */
export const ETH_HLEN = 14;
/** Smallest Ethernet frame without FCS; shorter replies are padded to it, as NICs do. */
export const ETH_ZLEN = 60;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;

/** Big-endian u16 at `off`. */
export function u16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

export function putU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

/** True if the `n` bytes at `b[off]` equal `want`. */
export function bytesEqual(b: Uint8Array, off: number, want: Uint8Array): boolean {
  for (let i = 0; i < want.length; i++) if (b[off + i] !== want[i]) return false;
  return true;
}

/** ff:ff:ff:ff:ff:ff at `off`. */
export function isBroadcastMac(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 6; i++) if (b[off + i] !== 0xff) return false;
  return true;
}

/** Writes an Ethernet header; the destination MAC is copied from `dstFrom[dstOff..+6]` (a MAC inside the request). */
export function writeEthernetHeader(
  out: Uint8Array,
  o: number,
  dstFrom: Uint8Array,
  dstOff: number,
  mac: Uint8Array,
  etherType: number,
): void {
  for (let i = 0; i < 6; i++) out[o + i] = dstFrom[dstOff + i]!;
  out.set(mac, o + 6);
  putU16(out, o + 12, etherType);
}

/** Zero-pads a frame of `len` bytes at `o` to ETH_ZLEN; returns the padded length. */
export function padFrame(out: Uint8Array, o: number, len: number): number {
  if (len >= ETH_ZLEN) return len;
  out.fill(0, o + len, o + ETH_ZLEN);
  return ETH_ZLEN;
}
