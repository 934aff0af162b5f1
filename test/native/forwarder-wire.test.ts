// The copy-free forward between devices that share one region (issue 13): two wires, x <-> a and
// b <-> y, all four in one SharedArrayBuffer; a FrameForwarder joins a and b. What x sends reaches
// y (and back) byte for byte, the far device transmits from the near device's receive slot (no
// transmit slot is ever taken), a full far ring drops and gives the buffer back, and the
// virtio_net_hdr crosses with its receive-only flags cleared.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort } from '../../lib/device';
import { FrameForwarder } from '../../lib/device/forwarder';
import { openSharedWirePairs, openWirePair } from '../../lib/device/open';
import type { CondisError } from '../../lib/errors';
import { poolOffsetFor } from '../../lib/virtio/layout';
import { createSharedRegions, validateRegionHeader } from '../../lib/virtio/region';
import {
  kBigRxBufferBytes,
  setVnetU16,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VnetHdrOff,
  vnetU16,
} from '../../lib/virtio/vnet-hdr';
import { frame } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

function rig(options: Parameters<typeof openSharedWirePairs>[1]) {
  const [[x, a], [b, y]] = openSharedWirePairs(2, options) as [[Device, Device], [Device, Device]];
  open.push(x, a, b, y);
  const px = new FramePort(x, 0);
  const py = new FramePort(y, 0);
  const atX: Uint8Array[] = [];
  const atY: Uint8Array[] = [];
  const hdr = x.region.payloadOffset;
  px.onFrame = (bytes, off, len) => atX.push(bytes.slice(off - hdr, off + len));
  py.onFrame = (bytes, off, len) => atY.push(bytes.slice(off - hdr, off + len));
  x.onInterrupt = () => px.poll();
  y.onInterrupt = () => py.poll();
  px.postRx();
  py.postRx();
  const fwd = new FrameForwarder(a, b);
  return { x, a, b, y, px, py, atX, atY, fwd };
}

describe('shared regions', () => {
  it('lays regions out one after another over one pool, each valid on its own', () => {
    const o = { queuePairs: 2, queueSize: 8, bufferSize: 256 };
    const [r0, r1, r2] = createSharedRegions([o, { ...o, queuePairs: 1 }, o]);
    expect(r1!.sab).toBe(r0!.sab);
    expect(r2!.sab).toBe(r0!.sab);
    for (const r of [r0!, r1!, r2!]) {
      expect(validateRegionHeader(r.u8)).toBeNull();
      expect(r.byteOffset % 4096).toBe(0);
      expect(r.u8.byteOffset).toBe(r.byteOffset);
      expect(r.bufferCount).toBe(4 * 8 + 2 * 8 + 4 * 8);
      // The one pool, seen from each header: the same bytes.
      expect(r.byteOffset + r.poolOffset).toBe(r0!.byteOffset + r0!.poolOffset);
    }
    expect([r0!.slotBase, r1!.slotBase, r2!.slotBase]).toEqual([0, 32, 48]);
    // Region 1's header right after region 0's queues, region 2's after region 1's.
    expect(r1!.byteOffset).toBe(poolOffsetFor(4, 8));
    expect(r2!.byteOffset).toBe(poolOffsetFor(4, 8) + poolOffsetFor(2, 8));
  });

  it('refuses regions whose slots would mean different things', () => {
    const o = { queuePairs: 1, queueSize: 8, bufferSize: 256 };
    expect(() => createSharedRegions([o, { ...o, bufferSize: 512 }])).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
    );
    expect(() => createSharedRegions([o, { ...o, vnetHdr: true }])).toThrow(/one bufferSize and vnetHdr/);
    expect(() => createSharedRegions([])).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
    );
  });

  it('gives each device its own slots of the shared pool', () => {
    const [x, a] = openSharedWirePairs(1, { queuePairs: 2, queueSize: 8 })[0]!;
    open.push(x, a);
    const slotsX = x.pools.map((p) => p.firstSlot);
    const slotsA = a.pools.map((p) => p.firstSlot);
    expect(slotsX).toEqual([0, 8, 16, 24]);
    expect(slotsA).toEqual([32, 40, 48, 56]);
  });
});

describe('FrameForwarder', () => {
  it('forwards both ways without a copy: the far side sends from the near receive slot', async () => {
    const { px, py, atX, atY, fwd, b, a } = rig({ queueSize: 64 });
    const frames = Array.from({ length: 200 }, (_, i) => frame(60 + (i % 1400), i));
    let i = 0;
    // As many as the rings take, then more as they drain: 200 through 64-entry queues.
    await waitUntil(() => {
      while (i < frames.length && px.send(frames[i]!)) i++;
      px.flush();
      return i === frames.length && atY.length === frames.length;
    }, 'all frames x -> y');
    expect(atY).toEqual(frames);
    expect(py.send(frames[7]!)).toBe(true);
    py.flush();
    await waitUntil(() => atX.length === 1, 'one frame y -> x');
    expect(atX[0]).toEqual(frames[7]);
    const s = fwd.stats();
    expect(s.aToB).toMatchObject({ forwarded: 200, dropped: 0, txFailed: 0 });
    expect(s.bToA).toMatchObject({ forwarded: 1, dropped: 0, txFailed: 0 });
    // No transmit slot of either forwarding device was ever taken: every send was a receive slot.
    expect(b.pools[1]!.available()).toBe(b.pools[1]!.capacity);
    expect(a.pools[1]!.available()).toBe(a.pools[1]!.capacity);
    // Every receive slot is back on its ring once the sends completed.
    await waitUntil(() => a.rx[0]!.inFlight() === a.rx[0]!.size, 'a receive ring full again');
  });

  it('carries the virtio_net_hdr: a GSO frame stays one frame, DATA_VALID is cleared', async () => {
    const BIG = Math.ceil(kBigRxBufferBytes / 64) * 64;
    const all = ['CSUM', 'GUEST_CSUM', 'GUEST_TSO4', 'HOST_TSO4'] as const;
    const { px, atY, fwd } = rig({ vnetHdr: true, queueSize: 16, bufferSize: BIG, features: [...all] });
    const f = frame(9000, 3);
    const h = new Uint8Array(12 + f.length);
    h.set(f, 12);
    h[VnetHdrOff.flags] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h[VnetHdrOff.gsoType] = VIRTIO_NET_HDR_GSO_TCPV4;
    setVnetU16(h, 0, VnetHdrOff.hdrLen, 54);
    setVnetU16(h, 0, VnetHdrOff.gsoSize, 1448);
    setVnetU16(h, 0, VnetHdrOff.csumStart, 34);
    setVnetU16(h, 0, VnetHdrOff.csumOffset, 16);
    // sendWithHeader takes the frame with its header in front; offset points past the header.
    expect(px.sendWithHeader(h, 12, f.length)).toBe(true);
    px.flush();
    await waitUntil(() => atY.length === 1, 'the GSO frame at y');
    const got = atY[0]!;
    expect(got.subarray(12)).toEqual(f);
    expect(got[VnetHdrOff.gsoType]).toBe(VIRTIO_NET_HDR_GSO_TCPV4);
    expect(vnetU16(got, 0, VnetHdrOff.gsoSize)).toBe(1448);
    expect(got[VnetHdrOff.flags]! & VIRTIO_NET_HDR_F_DATA_VALID).toBe(0);
    expect(fwd.stats().aToB.forwarded).toBe(1);
  });

  it('holds back under back-pressure: receive slots lent to a stalled far side, nothing lost', async () => {
    const [[x, a], [b, y]] = openSharedWirePairs(2, { queueSize: 8 }) as [[Device, Device], [Device, Device]];
    open.push(x, a, b, y);
    const px = new FramePort(x, 0);
    const py = new FramePort(y, 0);
    const atY: Uint8Array[] = [];
    py.onFrame = (bytes, off, len) => atY.push(bytes.slice(off, off + len));
    x.onInterrupt = () => px.poll();
    y.onInterrupt = () => py.poll();
    const fwd = new FrameForwarder(a, b);
    // y posts no receive buffer yet: the wire holds b's sends (flow control), so every receive
    // slot of a ends up lent to b's transmit ring and a stops taking frames from x.
    const frames = Array.from({ length: 30 }, (_, i) => frame(64 + i, 200 + i));
    let sent = 0;
    const push = () => {
      while (sent < frames.length && px.send(frames[sent]!)) sent++;
      px.flush();
    };
    push();
    await waitUntil(() => {
      push();
      return fwd.stats().aToB.forwarded === 8;
    }, 'a has lent all 8 receive slots to b');
    expect(a.rx[0]!.inFlight()).toBe(0);
    expect(b.tx[0]!.inFlight()).toBe(8);
    py.postRx();
    await waitUntil(() => {
      push();
      return atY.length === frames.length;
    }, 'every frame at y once it receives');
    expect(atY).toEqual(frames);
    expect(fwd.stats().aToB).toMatchObject({ forwarded: 30, dropped: 0, txFailed: 0 });
  });

  it('refuses devices that do not share a region', () => {
    const [p, q] = openWirePair({ queueSize: 8 });
    open.push(p, q);
    let err: CondisError | undefined;
    try {
      new FrameForwarder(p, q);
    } catch (e) {
      err = e as CondisError;
    }
    expect(err?.code).toBe('ERR_CONDIS_INVALID_ARG');
    expect(err?.message).toMatch(/share one region/);
  });
});
