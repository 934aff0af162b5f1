// native/virtio_net.h is the device's copy of the virtio-net feature bits and header faults;
// lib/virtio/vnet-hdr.ts is the driver side's. They must agree number for number.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kDefaultVnetFeatures, VirtioNetF, VnetHdrFault, VnetHdrOff } from '../../../lib/virtio/vnet-hdr';

const src = readFileSync(join(__dirname, '../../../native/virtio_net.h'), 'utf8');

function enumerators(re: RegExp): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of src.matchAll(re)) out.set(m[1]!, Number(m[2]));
  return out;
}

describe('lib/virtio/vnet-hdr.ts mirrors native/virtio_net.h', () => {
  it('has every feature bit, by the same name and number', () => {
    const c = enumerators(/VIRTIO_NET_F_(\w+) = (\d+),/g);
    expect(c.size).toBe(Object.keys(VirtioNetF).length);
    for (const [name, bit] of c) expect(VirtioNetF[name as keyof typeof VirtioNetF], name).toBe(bit);
  });

  it('names the same header faults with the same numbers', () => {
    const c = enumerators(/^\s+kHdr(\w+) = (\d+),/gm);
    expect(c.size).toBe(Object.keys(VnetHdrFault).length);
    for (const [name, n] of c) expect(VnetHdrFault[name as keyof typeof VnetHdrFault], name).toBe(n);
  });

  it('puts the fields where the device reads them', () => {
    const offs = enumerators(/constexpr uint32_t kVnet(\w+)Off = (\d+);/g);
    expect(offs.get('GsoType')).toBe(VnetHdrOff.gsoType);
    expect(offs.get('HdrLen')).toBe(VnetHdrOff.hdrLen);
    expect(offs.get('GsoSize')).toBe(VnetHdrOff.gsoSize);
    expect(offs.get('CsumOffset')).toBe(VnetHdrOff.csumOffset);
  });

  it('defaults to the same features', () => {
    const m = /kDefaultNetFeatures =([^;]+);/.exec(src)![1]!;
    const names = [...m.matchAll(/VIRTIO_NET_F_(\w+)/g)].map((x) => x[1]);
    expect(names.sort()).toEqual([...kDefaultVnetFeatures].sort());
  });
});
