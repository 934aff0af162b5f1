/**
 * One queue pair of the NIC as the miniport holds it: receiveq k and transmitq k, their buffer
 * pools, and everything the data path needs preallocated so that no packet allocates:
 * - one receive NBL per receive pool slot (NET_BUFFER over ring memory, re-pointed per frame);
 * - a transmit token table: token -> the NBL a chain belongs to and the pool slot it copied
 *   into (-1 for a zero-copy chain, whose memory belongs to the sender);
 * - scratch arrays for harvest() and queue reset.
 * Pairs 1..N-1 are lent to tagged VCs at activation; pair 0 (untagged) only to the VC on VID 0.
 */
import type { Device } from '../device/device';
import { NetBuffer, NetBufferList } from '../ndis/nbl';
import type { BufferPool } from '../virtio/buffer-pool';
import type { DriverQueue } from '../virtio/driver-queue';
import type { MiniportVc } from './vc';

/** A receive NBL: preallocated for one receive pool slot, it knows its pair and slot. */
export class ReceiveNetBufferList extends NetBufferList {
  constructor(
    readonly pair: QueuePair,
    readonly slot: number,
    nb: NetBuffer,
  ) {
    super(nb);
  }
}

export class QueuePair {
  readonly rxq: DriverQueue;
  readonly txq: DriverQueue;
  readonly rxPool: BufferPool;
  readonly txPool: BufferPool;
  /** The VC bound to this pair (Active or Draining), or null when the pair is free. */
  vc: MiniportVc | null = null;
  /** Receive NBL of rx pool slot s at index s - rxPool.firstSlot. */
  readonly rxNbls: ReceiveNetBufferList[];
  /** Transmit chains in flight, by token: the NBL, and the copy slot (-1 = zero copy). */
  readonly txNbl: Array<NetBufferList | null>;
  readonly txSlot: Int32Array;
  private readonly txFree: Uint32Array;
  private txFreeTop: number;
  /** Scratch for harvest() and resetQueue(). */
  readonly tokens: Uint32Array;
  readonly lens: Uint32Array;
  /** Region byte range of the transmit pool (zero-copy detection). */
  readonly txPoolLo: number;
  readonly txPoolHi: number;
  /** Set while a return batch has re-posted receive buffers not yet published. */
  rxDirty = false;
  /**
   * The device has stopped this pair (a deactivation completed) but the receive ring still holds
   * posted buffers the driver has not taken back: see MiniportAdapter.reclaimRx.
   */
  rxReclaimPending = false;

  constructor(
    readonly device: Device,
    readonly index: number,
  ) {
    this.rxq = device.rx[index]!;
    this.txq = device.tx[index]!;
    this.rxPool = device.pools[2 * index]!;
    this.txPool = device.pools[2 * index + 1]!;
    const region = device.region;
    const hdr = region.payloadOffset;
    this.rxNbls = [];
    for (let i = 0; i < this.rxPool.capacity; i++) {
      const slot = this.rxPool.firstSlot + i;
      // One view over the whole region, shared by every NBL: a NET_BUFFER is (buffer, offset, length).
      const nb = new NetBuffer(region.u8, this.rxPool.offsetOf(slot) + hdr, 0);
      this.rxNbls.push(new ReceiveNetBufferList(this, slot, nb));
    }
    const q = this.txq.size;
    this.txNbl = new Array<NetBufferList | null>(q).fill(null);
    this.txSlot = new Int32Array(q).fill(-1);
    this.txFree = new Uint32Array(q);
    for (let i = 0; i < q; i++) this.txFree[i] = q - 1 - i;
    this.txFreeTop = q;
    const size = Math.max(this.rxq.size, this.txq.size, this.rxPool.capacity, this.txPool.capacity);
    this.tokens = new Uint32Array(size);
    this.lens = new Uint32Array(size);
    this.txPoolLo = this.txPool.offsetOf(this.txPool.firstSlot);
    this.txPoolHi = this.txPoolLo + this.txPool.capacity * this.txPool.slotSize;
  }

  /** A free transmit token, or -1. */
  allocToken(): number {
    return this.txFreeTop === 0 ? -1 : this.txFree[--this.txFreeTop]!;
  }

  freeToken(t: number): void {
    this.txNbl[t] = null;
    this.txSlot[t] = -1;
    this.txFree[this.txFreeTop++] = t;
  }

  /** Transmit tokens in use (= chains on the transmit ring). */
  get txTokensInUse(): number {
    return this.txq.size - this.txFreeTop;
  }

  /** Posts every free receive pool buffer to the receiveq (not published). Returns how many. */
  fillRx(): number {
    const pool = this.rxPool;
    const q = this.rxq;
    let n = 0;
    while (q.freeDescriptors() > 0) {
      const slot = pool.alloc();
      if (slot < 0) break;
      q.addBuffer(pool.offsetOf(slot), pool.slotSize, true, slot);
      n++;
    }
    return n;
  }

  /** The receive NBL of a receive pool slot. */
  rxNbl(slot: number): ReceiveNetBufferList {
    return this.rxNbls[slot - this.rxPool.firstSlot]!;
  }
}
