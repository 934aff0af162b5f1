/** Ethernet frames for tests: locally administered MACs, the experimental ethertype 0x88B5. */
export const ETH_EXPERIMENTAL = 0x88b5;
export const MAC_A = Uint8Array.from([0x02, 0, 0, 0, 0, 0x0a]);
export const MAC_B = Uint8Array.from([0x02, 0, 0, 0, 0, 0x0b]);

/** A frame of `size` bytes (>= 18) carrying `seq` (u32) and `tag` (u32) after the header. */
export function frame(size: number, seq: number, tag = 0, dst = MAC_B, src = MAC_A): Uint8Array {
  const f = new Uint8Array(size);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = ETH_EXPERIMENTAL >> 8;
  f[13] = ETH_EXPERIMENTAL & 0xff;
  const dv = new DataView(f.buffer);
  dv.setUint32(14, seq);
  if (size >= 22) dv.setUint32(18, tag);
  for (let i = 22; i < size; i++) f[i] = (seq + i) & 0xff;
  return f;
}

export function seqOf(bytes: Uint8Array, off: number): number {
  return (
    ((bytes[off + 14]! << 24) | (bytes[off + 15]! << 16) | (bytes[off + 16]! << 8) | bytes[off + 17]!) >>> 0
  );
}

export function tagOf(bytes: Uint8Array, off: number): number {
  return (
    ((bytes[off + 18]! << 24) | (bytes[off + 19]! << 16) | (bytes[off + 20]! << 8) | bytes[off + 21]!) >>> 0
  );
}

/** `frame(size, seq)` as it travels on a bound pair: an 802.1Q tag for `vid` after the MACs, as hex. */
export function taggedHex(size: number, seq: number, vid: number): string {
  const f = frame(size, seq);
  const t = new Uint8Array(size + 4);
  t.set(f.subarray(0, 12), 0);
  t.set([0x81, 0x00, vid >> 8, vid & 0xff], 12);
  t.set(f.subarray(12), 16);
  return Buffer.from(t).toString('hex');
}
