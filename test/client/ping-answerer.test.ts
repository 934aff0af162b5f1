/**
 * PingAnswerer (lib/client/ping-answerer.ts) on its own: the echo service sends a frame of its
 * ethertype back to its sender unchanged but for the MACs, only when it is addressed to us, and
 * gives the reply buffer back on completion; without the option such frames are not answered.
 */
import { describe, expect, it } from 'vitest';
import { PingAnswerer } from '../../lib/client/ping-answerer';
import { makeNbl, type NdisVcHandle } from '../../lib/ndis';

const US = Uint8Array.from([2, 0, 0, 0, 0, 1]);
const THEM = Uint8Array.from([2, 0, 0, 0, 0, 2]);
const IP = Uint8Array.from([10, 0, 0, 1]);
const ECHO = 0x88b6;

function frame(dst: Uint8Array, type: number, payload: number[]): Uint8Array {
  const f = new Uint8Array(Math.max(60, 14 + payload.length));
  f.set(dst, 0);
  f.set(THEM, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

describe('PingAnswerer echo service', () => {
  it('sends an echo frame to our MAC back with the MACs swapped, the rest unchanged', () => {
    const a = new PingAnswerer(7 as NdisVcHandle, { ip: IP, mac: US, echoEthertype: ECHO });
    const f = frame(US, ECHO, [1, 2, 3, 4, 5]);
    const head = a.answerAll(makeNbl(f), true);
    expect(head).not.toBeNull();
    const nb = head!.firstNetBuffer!;
    const out = nb.buffer.slice(nb.dataOffset, nb.dataOffset + nb.dataLength);
    expect(out.subarray(0, 6)).toEqual(THEM);
    expect(out.subarray(6, 12)).toEqual(US);
    expect(out.subarray(12)).toEqual(f.subarray(12));
    expect(head!.sourceHandle).toBe(7);
    expect(a.counters.echoed).toBe(1);
    expect(a.repliesInFlight).toBe(1);
    a.complete(head!);
    expect(a.repliesInFlight).toBe(0);
    expect(a.replyBuffersFree).toBe(a.replyBufferCount);
  });

  it('ignores an echo frame for another MAC, and echo frames altogether without the option', () => {
    const a = new PingAnswerer(7 as NdisVcHandle, { ip: IP, mac: US, echoEthertype: ECHO });
    expect(a.answerAll(makeNbl(frame(THEM, ECHO, [1])), true)).toBeNull();
    expect(a.counters.ignoredNotForUs).toBe(1);
    const plain = new PingAnswerer(7 as NdisVcHandle, { ip: IP, mac: US });
    expect(plain.answerAll(makeNbl(frame(US, ECHO, [1])), true)).toBeNull();
    expect(plain.counters.ignoredUnsupported).toBe(1);
  });

  it('the accept filter sees each frame first; what it refuses is not counted or answered', () => {
    const a = new PingAnswerer(7 as NdisVcHandle, { ip: IP, mac: US, echoEthertype: ECHO });
    expect(a.answerAll(makeNbl(frame(US, ECHO, [1])), true, () => false)).toBeNull();
    expect(a.counters.framesIn).toBe(0);
  });
});
