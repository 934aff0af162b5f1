import { describe, expect, it } from 'vitest';
import { chainNbls, makeNbl, NetBuffer, NetBufferList, nblArray, nblCount } from '../../../lib/ndis';

describe('NET_BUFFER_LIST / NET_BUFFER', () => {
  it('data are views over the given memory, never copies', () => {
    const ring = new Uint8Array(new SharedArrayBuffer(64));
    const nb = new NetBuffer(ring, 16, 8);
    const nbl = new NetBufferList(nb);
    nb.data()[0] = 0x42;
    expect(ring[16]).toBe(0x42);
    expect(nb.data().buffer).toBe(ring.buffer);
    expect(nbl.firstNetBuffer).toBe(nb);
  });

  it('lists are chained through next', () => {
    const a = makeNbl(new Uint8Array(1));
    const b = makeNbl(new Uint8Array(1));
    const head = chainNbls([a, b]);
    expect(head).toBe(a);
    expect(a.next).toBe(b);
    expect(nblCount(head)).toBe(2);
    expect(nblArray(head)).toEqual([a, b]);
  });
});
