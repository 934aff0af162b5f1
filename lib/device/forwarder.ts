/**
 * FrameForwarder: the copy-free forward between two devices whose regions share one
 * SharedArrayBuffer (openSharedTaps, openWirePair with shareRegion): a frame received on one is
 * sent on the other from the very buffer it arrived in, and that buffer goes back on its receive
 * queue only when the send completes. The simplest complete bridge on the raw rings; the NDIS
 * one is lib/client/bridge.ts.
 *
 * Why: between two regions of their own a forwarder copies every frame once in JavaScript, and a
 * copy between SharedArrayBuffers is V8's relaxed (word-by-word) memmove: 7% of all CPU of
 * `condis bench tcp`'s condis-port-offload path (issue 13's perf), a copy the C forwarder never
 * makes. With one pool behind both devices (createSharedRegions) the descriptor on the far
 * device's transmitq can simply point at the near device's receive slot.
 *
 * Back-pressure is the receive ring itself: a slot lent to the other device's transmitq is off the
 * receive ring until its send completes, so a far side that cannot keep up leaves the near device
 * without buffers (counted by the device as rxNoBuffer) instead of piling frames up here. A frame
 * that finds the far transmitq full is dropped (its buffer goes straight back), as a switch does.
 *
 * Hot path (the interrupt): no allocation, no N-API call per frame; one publish (and at most one
 * kick) per queue per pass.
 */
import { CondisError } from '../errors';
import type { BufferPool } from '../virtio/buffer-pool';
import type { DriverQueue } from '../virtio/driver-queue';
import { TxStatus } from '../virtio/layout';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VnetHdrOff } from '../virtio/vnet-hdr';
import type { Device } from './device';

const TX_SENT = TxStatus.Sent;

/** Counters of one direction of a FrameForwarder. */
export interface ForwardCounters {
  /** Frames put on the far device's transmitq. */
  forwarded: number;
  /** Their bytes (frame only, without the virtio_net_hdr). */
  bytes: number;
  /** Frames dropped because the far transmitq was full. */
  dropped: number;
  /** Forwarded frames whose send completed with a failure status (TxStatus other than Sent). */
  txFailed: number;
  /** Receive buffers that came back with no frame (length <= the virtio_net_hdr). */
  rxEmpty: number;
}

/** Frames received on `rxq` (of `from`) and sent on `txq` (of `to`). */
class Direction {
  readonly counters: ForwardCounters = { forwarded: 0, bytes: 0, dropped: 0, txFailed: 0, rxEmpty: 0 };
  /** Add to a receive offset (in `from`'s region) to get the same byte in `to`'s region. */
  readonly delta: number;
  readonly rxq: DriverQueue;
  readonly rxPool: BufferPool;
  readonly txq: DriverQueue;
  readonly from: Device;
  readonly to: Device;

  constructor(from: Device, fromPair: number, to: Device, toPair: number) {
    this.from = from;
    this.to = to;
    this.rxq = from.rx[fromPair]!;
    this.rxPool = from.pools[2 * fromPair]!;
    this.txq = to.tx[toPair]!;
    this.delta = from.region.byteOffset - to.region.byteOffset;
  }
}

/** Options of a FrameForwarder: which queue pair of each device (default 0, the untagged one). */
export interface FrameForwarderOptions {
  pairA?: number;
  pairB?: number;
}

/**
 * Joins queue pair `pairA` of device `a` and `pairB` of device `b`, which must share one region
 * (ERR_CONDIS_INVALID_ARG otherwise): everything received on one is sent on the other, with no
 * copy. Takes over both devices' onInterrupt and posts the receive queues at once. Both devices
 * need the same vnetHdr (the header travels with the frame: a GSO frame stays one frame, a
 * partial checksum stays partial; the receive-only flags are cleared, virtio 1.2 5.1.6.2).
 */
export class FrameForwarder {
  readonly a: Device;
  readonly b: Device;
  private readonly ab: Direction;
  private readonly ba: Direction;
  private readonly hdr: number;
  private readonly bytes: Uint8Array;
  private readonly tokens: Uint32Array;
  private readonly lens: Uint32Array;

  constructor(a: Device, b: Device, options: FrameForwarderOptions = {}) {
    const pairA = options.pairA ?? 0;
    const pairB = options.pairB ?? 0;
    if (a === b)
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'a forwarder joins two devices, got one twice');
    if (a.region.sab !== b.region.sab) {
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        'the two devices must share one region (openSharedTaps, or openWirePair with shareRegion)',
      );
    }
    if (a.region.payloadOffset !== b.region.payloadOffset) {
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'the two devices must both have vnetHdr, or neither');
    }
    for (const [d, p, n] of [
      [a, pairA, 'pairA'],
      [b, pairB, 'pairB'],
    ] as const) {
      if (!(Number.isInteger(p) && p >= 0 && p < d.queuePairs)) {
        throw new CondisError(
          'ERR_CONDIS_INVALID_ARG',
          `${n} ${p}: the device has ${d.queuePairs} queue pairs`,
        );
      }
    }
    this.a = a;
    this.b = b;
    this.ab = new Direction(a, pairA, b, pairB);
    this.ba = new Direction(b, pairB, a, pairA);
    this.hdr = a.region.payloadOffset;
    // a's view of the shared buffer; b's offsets are moved by Direction.delta where needed.
    this.bytes = a.region.u8;
    const size = Math.max(a.region.queueSize, b.region.queueSize);
    this.tokens = new Uint32Array(size);
    this.lens = new Uint32Array(size);
    a.onInterrupt = () => this.poll(this.ab, this.ba);
    b.onInterrupt = () => this.poll(this.ba, this.ab);
    for (const d of [this.ab, this.ba]) {
      if (d.rxq.addReceiveBuffers(d.rxPool) > 0) d.from.publish(d.rxq);
    }
  }

  /** Counters of a->b and b->a. */
  stats(): { aToB: ForwardCounters; bToA: ForwardCounters } {
    return { aToB: { ...this.ab.counters }, bToA: { ...this.ba.counters } };
  }

  /**
   * One device's interrupt: `rx` receives on it (frames to forward), `done` sends on it (the
   * other direction's frames, whose completions give receive buffers back to the other device).
   */
  private poll(rx: Direction, done: Direction): void {
    for (;;) {
      const t = this.complete(done);
      const r = this.forward(rx);
      if (t === 0 && r === 0) {
        // Unlike FramePort.poll (and Linux's virtqueue_enable_cb_delayed), no delay for transmit
        // completions: here each one is a receive buffer the other device is waiting for, and
        // holding them back until 3/4 of the sends are done starves its receive ring.
        const more = done.txq.enableInterrupts() || rx.rxq.enableInterrupts();
        if (!more) return;
      }
    }
  }

  /** Harvests d's transmit completions: each gives its receive slot back to d.from's receiveq. */
  private complete(d: Direction): number {
    const n = d.txq.harvest(this.tokens, this.lens, this.tokens.length);
    if (n === 0) return 0;
    const pool = d.rxPool;
    const q = d.rxq;
    const size = pool.slotSize;
    for (let i = 0; i < n; i++) {
      const slot = this.tokens[i]!;
      if (this.lens[i]! !== TX_SENT) d.counters.txFailed++;
      q.addBuffer(pool.offsetOf(slot), size, true, slot);
    }
    d.from.publish(q);
    return n;
  }

  /** Harvests d's received frames and puts each on the far transmitq, buffer and all. */
  private forward(d: Direction): number {
    const q = d.rxq;
    const n = q.harvest(this.tokens, this.lens, this.tokens.length);
    if (n === 0) return 0;
    const pool = d.rxPool;
    const size = pool.slotSize;
    const tx = d.txq;
    const hdr = this.hdr;
    const c = d.counters;
    // Offsets in a's view of the buffer, for the header write below.
    const toA = d.from === this.a ? 0 : d.from.region.byteOffset - this.a.region.byteOffset;
    let reposted = 0;
    for (let i = 0; i < n; i++) {
      const slot = this.tokens[i]!;
      const len = this.lens[i]!;
      const off = pool.offsetOf(slot);
      if (len <= hdr) {
        c.rxEmpty++;
      } else if (tx.freeDescriptors() === 0) {
        c.dropped++;
      } else {
        if (hdr > 0) {
          const f = toA + off + VnetHdrOff.flags;
          this.bytes[f] = this.bytes[f]! & VIRTIO_NET_HDR_F_NEEDS_CSUM;
        }
        tx.addBuffer(off + d.delta, len, false, slot);
        c.forwarded++;
        c.bytes += len - hdr;
        continue;
      }
      q.addBuffer(off, size, true, slot);
      reposted++;
    }
    d.to.publish(tx);
    if (reposted > 0) d.from.publish(q);
    return n;
  }
}
