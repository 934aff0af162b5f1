/**
 * The miniport's two contexts, which name each other: a VC's (MiniportVc) and the queue pair it
 * holds (QueuePair). A VC holds its pair while Active or Draining (`vc.pair`), and a pair knows
 * the VC it is lent to (`pair.vc`: a returned receive NBL finds its VC through its pair, the
 * interrupt services the pairs that have one). Each type names the other, so they live in one
 * module: in two, each imported the other (a cycle, type imports counted).
 *
 * Layer: the bottom of lib/miniport. It imports only NBLs and statuses (lib/ndis) and the
 * device's queues and pools (lib/device, lib/virtio); state.ts, the data path (send.ts,
 * receive.ts), the drain's end (drain.ts), the interrupt (interrupt.ts), the control path
 * (control.ts) and the adapter (adapter.ts) build on it.
 */
import type { Device } from '../device/device';
import type { CondisError } from '../errors';
import type { NdisVcHandle } from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import { NetBuffer, NetBufferList } from '../ndis/nbl';
import type { NdisStatus } from '../ndis/status';
import type { BufferPool } from '../virtio/buffer-pool';
import type { DriverQueue } from '../virtio/driver-queue';

// ---------------------------------------------------------------------------------------------
/**
 * The per-VC context (MiniportVcContext): one state enum and the outstanding counters the drain
 * is decided on (the filter sample's shape: state + counters, never a flags word).
 *
 *   Inactive --coActivateVc--> Active --coDeactivateVc--> Draining --last tx/rx back--> Inactive
 *                                 ^                          |
 *                                 +------- abort (A11) ------+  (backendLost, ringError, coAbortVc)
 *
 * Counters that decide the drain (spec §2.4):
 * - `txInFlight`: NBLs handed to MiniportCoSendNetBufferLists and not yet given back through
 *   NdisMCoSendNetBufferListsComplete — on the transmit ring or in the software queue;
 * - `rxHeld`: NBLs indicated without NDIS_RECEIVE_FLAGS_RESOURCES and not yet returned through
 *   MiniportReturnNetBufferLists.
 * The rest are statistics (plain numbers, bumped on the data path; nothing allocated).
 */
export const VcState = {
  /** Created (MiniportCoCreateVc) or deactivated: no queue pair, nothing in flight. */
  Inactive: 0,
  /** Bound to a queue pair: sends go to its transmitq, its receiveq is indicated up. */
  Active: 1,
  /** MiniportCoDeactivateVc pended: no new indications; waiting for txInFlight and rxHeld to reach 0. */
  Draining: 2,
} as const;
export type VcState = (typeof VcState)[keyof typeof VcState];

const stateNames = ['Inactive', 'Active', 'Draining'] as const;
export function vcStateName(s: VcState): string {
  return stateNames[s] ?? `VcState(${s})`;
}

/** Counters of one VC, cumulative over its life (all activation eras). */
export class VcCounters {
  /** NBLs accepted by MiniportCoSendNetBufferLists. */
  txNbls = 0;
  /** NBLs given back through NdisMCoSendNetBufferListsComplete, by outcome. */
  txCompleted = 0;
  txFailed = 0;
  /** Frames (NET_BUFFERs) placed on the ring straight from ring memory: no copy. */
  txZeroCopy = 0;
  /** Frames copied into a transmit pool buffer. */
  txCopied = 0;
  /** Frames that had to wait in the software queue (ring or pool full). */
  txQueued = 0;
  /** NBLs completed with SEND_ABORTED by a queue reset or an abort. */
  txAborted = 0;
  /** NBLs indicated up, with and without NDIS_RECEIVE_FLAGS_RESOURCES. */
  rxIndicated = 0;
  rxIndicatedResources = 0;
  /** NBLs returned through MiniportReturnNetBufferLists. */
  rxReturned = 0;
  /** Frames harvested while draining and dropped (never indicated: spec §2.4 condition 3). */
  rxDiscarded = 0;
  /** Receive buffers that came back empty (frame too big for the buffer). */
  rxEmpty = 0;
  /** Deactivations that completed SUCCESS / were aborted. */
  deactivations = 0;
  aborts = 0;
}

export class MiniportVc {
  state: VcState = VcState.Inactive;
  /** The VLAN id the VC is carried on; 0 while inactive, and for the untagged VC (pair 0): see `state`. */
  vid = 0;
  /** The queue pair the VC is bound to while Active or Draining. */
  pair: QueuePair | null = null;
  /** Parameters in force (the object NDIS passed to the activation that succeeded). */
  params: CoCallParameters | undefined;
  /** Largest frame a send may carry (from the activation's maxSduSize, or the buffer payload). */
  maxFrame = 0;
  /** NBLs inside the miniport for this VC (ring + software queue). */
  txInFlight = 0;
  /** Receive NBLs held by the protocol. */
  rxHeld = 0;
  /**
   * The software send queue (MiniportCoSendNetBufferLists may not refuse: NDIS gives a CoNDIS
   * miniport no back-pressure). Chained through NET_BUFFER_LIST.Next, which the miniport owns
   * while it holds the NBL. `swqNb` is the next NET_BUFFER of the head NBL still to be placed.
   */
  swqHead: NetBufferList | null = null;
  swqTail: NetBufferList | null = null;
  swqNb: NetBuffer | null = null;
  readonly counters = new VcCounters();
  /** Status the last deactivation completed with (SUCCESS, or the abort status). */
  lastDeactivateStatus: NdisStatus | undefined;
  /**
   * Why the last activation failed when the device refused it (MiniportCoActivateVc returned
   * INVALID_STATE: Device.bindPair threw): the device's error with its code kept
   * (ERR_CONDIS_VID_IN_USE, ERR_CONDIS_DEVICE_CLOSED, an errno name...), details {vid, pair}.
   * NDIS carries only the status up; this is where the code stays. Cleared by every activation
   * attempt, so it describes the last one.
   */
  lastActivateError: CondisError | undefined;

  constructor(readonly ndisVcHandle: NdisVcHandle) {}

  /** Nothing outstanding: the drain rule (spec §2.4 conditions 1 and 2) holds. */
  get drained(): boolean {
    return this.txInFlight === 0 && this.rxHeld === 0;
  }
}

// ---------------------------------------------------------------------------------------------
/**
 * The queue pair (QueuePair): one queue pair of the NIC as the miniport holds it — receiveq k and
 * transmitq k, their buffer pools, and everything the data path needs preallocated so that no
 * packet allocates:
 * - one receive NBL per receive pool slot (NET_BUFFER over ring memory, re-pointed per frame);
 * - a transmit token table: token -> the NBL a chain belongs to and the pool slot it copied
 *   into (-1 for a zero-copy chain, whose memory belongs to the sender);
 * - scratch arrays for harvest() and queue reset.
 * Pairs 1..N-1 are lent to tagged VCs at activation; pair 0 (untagged) only to the VC on VID 0.
 */
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
  /** Set while a return batch has re-posted receive buffers not yet published. */
  rxDirty = false;
  /**
   * The device has stopped this pair (a deactivation completed) but the receive ring still holds
   * posted buffers the driver has not taken back: see AdapterState.reclaimRx (state.ts).
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
    return this.rxq.addReceiveBuffers(this.rxPool);
  }

  /** The receive NBL of a receive pool slot. */
  rxNbl(slot: number): ReceiveNetBufferList {
    return this.rxNbls[slot - this.rxPool.firstSlot]!;
  }
}
