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
