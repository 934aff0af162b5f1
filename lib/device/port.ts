/**
 * FramePort: the simplest complete driver for one queue pair — it keeps the receive queue full of
 * pool buffers, copies frames into transmit buffers, and on every interrupt harvests both queues.
 * The CLI, the tests and the pps benchmark use it; the CoNDIS miniport (lib/miniport) does the
 * same work with NBLs instead of copies.
 *
 * Hot path (send, sendRepeated, poll): no allocation; one publish (and at most one kick) per batch.
 */
import { CondisError } from '../errors';
import type { BufferPool } from '../virtio/buffer-pool';
import type { DriverQueue } from '../virtio/driver-queue';
import { TxStatus } from '../virtio/layout';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VnetHdrOff } from '../virtio/vnet-hdr';
import type { Device } from './device';

// A module-local copy: under tsx every imported binding is a getter V8 does not inline.
const TX_SENT = TxStatus.Sent;
const TX_ABORTED = TxStatus.Aborted;

/** Called for each received frame: the bytes are region.u8[offset, offset + length). */
export type FrameSink = (bytes: Uint8Array, offset: number, length: number) => void;

/**
 * Raw frames on one queue pair of a device, without NDIS: postRx() gives the device receive
 * buffers, send() + flush() transmit, poll() (call it from device.onInterrupt) harvests both
 * directions and calls onFrame for each frame received.
 */
export class FramePort {
  readonly device: Device;
  readonly pair: number;
  readonly rxq: DriverQueue;
  readonly txq: DriverQueue;
  readonly rxPool: BufferPool;
  readonly txPool: BufferPool;
  /** Frames handed to the transmit queue. */
  sent = 0;
  /** Transmit completions, by outcome. */
  txDone = 0;
  txFailed = 0;
  readonly txStatusCounts: Float64Array = new Float64Array(8);
  /** Frames received (after the vnet header). */
  received = 0;
  receivedBytes = 0;
  /** Receive buffers that came back empty (len 0: frame too big or header only). */
  rxEmpty = 0;
  onFrame: FrameSink | null = null;
  private readonly tokens: Uint32Array;
  private readonly lens: Uint32Array;
  private readonly hdr: number;
  private readonly bytes: Uint8Array;
  private primed: Uint8Array;
  private primedWith: Uint8Array | null = null;
  /**
   * Batch calls publish every this many entries (a quarter of the queue), so the device starts
   * on the first ones while the rest are still being written, instead of the two sides taking
   * turns over whole queues.
   */
  private readonly publishEvery: number;

  constructor(device: Device, pair: number) {
    const rxq = device.rx[pair];
    const txq = device.tx[pair];
    if (rxq === undefined || txq === undefined) {
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        `no queue pair ${pair} (device has ${device.queuePairs})`,
      );
    }
    this.device = device;
    this.pair = pair;
    this.rxq = rxq;
    this.txq = txq;
    this.rxPool = device.pools[2 * pair]!;
    this.txPool = device.pools[2 * pair + 1]!;
    this.tokens = new Uint32Array(rxq.size);
    this.lens = new Uint32Array(rxq.size);
    this.hdr = device.region.payloadOffset;
    this.bytes = device.region.u8;
    this.primed = new Uint8Array(device.region.bufferCount);
    this.publishEvery = Math.max(16, rxq.size >>> 2);
  }

  /** Posts every free receive buffer; returns how many were added. */
  postRx(): number {
    const n = this.rxq.addReceiveBuffers(this.rxPool);
    if (n > 0) this.device.publish(this.rxq);
    return n;
  }

  /** Copies one frame into a transmit buffer (not yet published: call flush()). False if full. */
  send(frame: Uint8Array, length = frame.length): boolean {
    const pool = this.txPool;
    if (this.txq.freeDescriptors() === 0 || length + this.hdr > pool.slotSize) return false;
    const slot = pool.alloc();
    if (slot < 0) return false;
    const off = pool.offsetOf(slot);
    if (this.hdr > 0) this.bytes.fill(0, off, off + this.hdr); // virtio_net_hdr: no offloads
    this.bytes.set(length === frame.length ? frame : frame.subarray(0, length), off + this.hdr);
    this.primed[slot] = 0;
    this.txq.addBuffer(off, this.hdr + length, false, slot);
    this.sent++;
    return true;
  }

  /**
   * Copies a frame together with the virtio_net_hdr in front of it, `bytes[offset - hdr, offset +
   * length)` (with vnetHdr the header lies just before where onFrame's `offset` points): how a
   * forwarder passes a received frame on with its offloads (a GSO frame stays one frame, a
   * partial checksum stays partial). The receive-only flags (DATA_VALID, RSC_INFO) are cleared: a
   * driver must not set them on transmit (virtio 1.2, 5.1.6.2) and the device refuses them.
   * Without vnetHdr it is send(). Not yet published: call flush(). False if full.
   */
  sendWithHeader(bytes: Uint8Array, offset: number, length: number): boolean {
    const pool = this.txPool;
    const hdr = this.hdr;
    if (this.txq.freeDescriptors() === 0 || length + hdr > pool.slotSize) return false;
    const slot = pool.alloc();
    if (slot < 0) return false;
    const off = pool.offsetOf(slot);
    // Same region: no view at all; another device's region: one subarray view (as send() makes
    // for a window), small beside the copy.
    if (bytes === this.bytes) this.bytes.copyWithin(off, offset - hdr, offset + length);
    else this.bytes.set(bytes.subarray(offset - hdr, offset + length), off);
    if (hdr > 0)
      this.bytes[off + VnetHdrOff.flags] = this.bytes[off + VnetHdrOff.flags]! & VIRTIO_NET_HDR_F_NEEDS_CSUM;
    this.primed[slot] = 0;
    this.txq.addBuffer(off, hdr + length, false, slot);
    this.sent++;
    return true;
  }

  /**
   * Queues up to `count` copies of `template`; a buffer is written only the first time it carries
   * this template, so steady-state sends copy nothing. Returns how many were queued.
   */
  sendRepeated(template: Uint8Array, count: number): number {
    if (this.primedWith !== template) {
      this.primed.fill(0);
      this.primedWith = template;
    }
    const pool = this.txPool;
    const q = this.txq;
    const len = this.hdr + template.length;
    const every = this.publishEvery;
    let n = 0;
    while (n < count && q.freeDescriptors() > 0) {
      if (n > 0 && n % every === 0) this.device.publish(q);
      const slot = pool.alloc();
      if (slot < 0) break;
      const off = pool.offsetOf(slot);
      if (this.primed[slot] === 0) {
        if (this.hdr > 0) this.bytes.fill(0, off, off + this.hdr);
        this.bytes.set(template, off + this.hdr);
        this.primed[slot] = 1;
      }
      q.addBuffer(off, len, false, slot);
      n++;
    }
    this.sent += n;
    return n;
  }

  /** Publishes queued sends and kicks the device if it asked for it. */
  flush(): void {
    this.device.publish(this.txq);
  }

  /** Transmit buffers free for send(). */
  txRoom(): number {
    return Math.min(this.txPool.available(), this.txq.freeDescriptors());
  }

  /**
   * Harvests transmit completions and received frames, re-posts receive buffers, re-enables
   * interrupts. Returns frames processed (both directions). Always returns: a queue stopped on an
   * impossible used ring (DriverQueue.broken) yields nothing and reports no work, and the Device
   * reports it as a 'ringError'.
   */
  poll(): number {
    let total = 0;
    for (;;) {
      const t = this.harvestTx();
      const r = this.harvestRx();
      total += t + r;
      if (t === 0 && r === 0) {
        // Ask for the next interrupt; if entries slipped in meanwhile, go round again. Transmit
        // completions are not urgent: as Linux's virtqueue_enable_cb_delayed, wait for 3/4 of
        // what is in flight (all of it eventually completes, so the interrupt always comes).
        const txDelay = (this.txq.inFlight() * 3) >>> 2;
        const more = this.txq.enableInterrupts(txDelay) || this.rxq.enableInterrupts();
        if (!more) break;
      }
    }
    return total;
  }

  /**
   * Virtio queue reset of one of the port's two queues, after a ring error (the device failed it,
   * or the driver side stopped it on an impossible used entry): what the device had finished is
   * harvested first (frames sent count as sent, frames received are delivered), then the reset
   * gives back every buffer still on the ring — a transmit counts as failed (TxStatus aborted) —
   * the receive queue is posted full again and interrupts are re-armed. Returns the chains the
   * reset gave back. Throws ERR_CONDIS_INVALID_ARG for a queue not the port's, and
   * ERR_CONDIS_DEVICE_CLOSED on a closed device.
   */
  resetQueue(q: number): number {
    const isRx = q === this.rxq.index;
    if (!isRx && q !== this.txq.index) {
      throw new CondisError('ERR_CONDIS_INVALID_ARG', `queue ${q} is not one of pair ${this.pair}'s`, {
        queue: q,
      });
    }
    if (isRx) this.harvestRx();
    else this.harvestTx();
    const n = this.device.resetQueue(q, this.tokens);
    if (isRx) {
      this.rxPool.freeMany(this.tokens, n);
      this.postRx();
    } else {
      this.txPool.freeMany(this.tokens, n);
      this.txFailed += n;
      this.txStatusCounts[TX_ABORTED]! += n;
    }
    this.poll();
    return n;
  }

  private harvestTx(): number {
    const n = this.txq.harvest(this.tokens, this.lens, this.tokens.length);
    const pool = this.txPool;
    for (let i = 0; i < n; i++) {
      pool.free(this.tokens[i]!);
      const st = this.lens[i]!;
      if (st === TX_SENT) this.txDone++;
      else this.txFailed++;
      this.txStatusCounts[st & 7]!++;
    }
    return n;
  }

  private harvestRx(): number {
    const q = this.rxq;
    // Every buffer goes back on the ring as it is (same descriptor, same slot): the frames are
    // read below, before the publish that shows the buffers to the device again. At most a
    // quarter of the queue per call (poll() comes back for the rest), so a device waiting for
    // buffers gets the first ones back early.
    const n = q.harvestAndRepost(this.tokens, this.lens, this.publishEvery);
    if (n === 0) return 0;
    const pool = this.rxPool;
    const sink = this.onFrame;
    const hdr = this.hdr;
    for (let i = 0; i < n; i++) {
      const slot = this.tokens[i]!;
      const len = this.lens[i]!;
      const off = pool.offsetOf(slot);
      if (len > hdr) {
        this.received++;
        this.receivedBytes += len - hdr;
        if (sink !== null) sink(this.bytes, off + hdr, len - hdr);
      } else {
        this.rxEmpty++;
      }
    }
    this.device.publish(q);
    return n;
  }
}
