/**
 * MiniportAdapter: the reference CoNDIS miniport over one condis-tap Device (the adapter context
 * of MiniportInitializeEx). It owns the Device, its free queue pairs 1..N-1 (lent to tagged VCs),
 * pair 0 (untagged: lent to the one VC on VID 0, unless `untaggedPair: false` leaves it to
 * someone else), the interrupt handler that services every pair a VC holds, and the VCs'
 * contexts. Handlers are registered with `ndis.registerMiniport` under their NDIS names (or
 * handed to `options.register`, see below) and delegate to control.ts (VC lifecycle), send.ts and
 * receive.ts (data path).
 *
 * Reuse by a miniport call manager (MCM, lib/cm/mcm.ts): the MCM is the same driver with its
 * call manager inside, so it embeds this adapter rather than copying it. Three options make that
 * possible without intercepting NDIS:
 * - `register`: the MCM registers with NdisMRegisterMiniportDriver as an MCM (ndis.registerMcm)
 *   and keeps the VC lifecycle handlers for itself (NDIS never calls an MCM's, spec §5 C7);
 * - `onDeactivated`: the end of a pended deactivation goes to the MCM (which then reports
 *   NdisMCmDeactivateVc) instead of NdisMCoDeactivateVcComplete;
 * - `untaggedPair: false`: pair 0 is the MCM's signalling channel, not a VC's.
 * The device has one interrupt callback and the adapter owns it; whoever else drives a pair of the
 * same device (the MCM's pair 0) adds an interrupt hook (addInterruptHook) instead of chaining.
 *
 * Events (node:events):
 * - 'vcAbort' (CondisError): a deactivation was aborted (see control.ts abortVc): the code says
 *   why — ERR_CONDIS_BACKEND_LOST, ERR_CONDIS_DEVICE_FAILED, ERR_CONDIS_RING_* (a queue the device
 *   failed, or the driver's ERR_CONDIS_RING_USED_*: the device returned an impossible used entry),
 *   ERR_CONDIS_DRAIN_TIMEOUT;
 * - 'queueReset' (CondisError): a queue went to NEEDS_RESET, or the driver stopped it on an
 *   impossible used entry, and was reset and re-armed (counted in `queueResets`): a queue of an
 *   Active VC (the sends the device had finished complete with its status, the rest of the ring
 *   SEND_ABORTED, the software queue refills the ring), of pair 0 while no VC holds it, or of a
 *   pair another driver holds through setPairDriver (an MCM's signalling channel). One reset per
 *   fault: a report that finds its queue already reset (the driver's own stop is reported a
 *   microtask late) is ignored.
 * The device closed under the miniport (Device.close() or destroy() before halt()) ends every
 * send at once and aborts pending drains with ERR_CONDIS_DEVICE_CLOSED (control.ts deviceClosed).
 */
import { EventEmitter } from 'node:events';
import type { Device } from '../device/device';
import type { CondisError } from '../errors';
import type { MiniportCoHandlers, NdisMiniportHandle, NdisVcHandle } from '../ndis/actors';
import { NetBuffer, NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, type NdisStatus } from '../ndis/status';
import type { BufferPool } from '../virtio/buffer-pool';
import type { DriverQueue } from '../virtio/driver-queue';
import { kUsedIdxOff, queueBaseOffset } from '../virtio/layout';
import * as control from './control';
import { QueuePair } from './pair';
import { harvestRx, returnNetBufferLists } from './receive';
import { coSendNetBufferLists, harvestTx, resetTransmitq } from './send';
import { type MiniportVc, VcState } from './vc';

export interface MiniportAdapterOptions {
  /** Name registered with NDIS (default 'condis-miniport'). */
  name?: string;
  /**
   * Indicate receives with NDIS_RECEIVE_FLAGS_RESOURCES when fewer than this many receive
   * buffers remain posted on the pair after a harvest (default 0: never).
   */
  rxResourcesThreshold?: number;
  /**
   * Whether a VC on VID 0 may take queue pair 0, untagged (default true). false: pair 0 belongs
   * to someone else driving the device (an MCM's signalling channel); VID 0 is then refused with
   * INVALID_DATA and pair 0 is not counted in poolCounts.
   */
  untaggedPair?: boolean;
  /**
   * Registers the miniport's handlers with NDIS and returns the miniport handle. Default:
   * `ndis.registerMiniport(name, handlers, adapter)`. Called once, from the constructor (the
   * adapter's fields are set, `handle` is not yet). An MCM registers with `ndis.registerMcm`,
   * giving NDIS only the data-path handlers, and calls the VC lifecycle handlers itself.
   */
  register?: (handlers: MiniportCoHandlers, adapter: MiniportAdapter) => NdisMiniportHandle;
  /**
   * The end of a deactivation that returned PENDING: `status` is SUCCESS (drained; the pair is
   * freed, the VC Inactive) or REQUEST_ABORTED (the drain was aborted, the VC re-armed Active,
   * spec A11). Default: NdisMCoDeactivateVcComplete(status, vc.ndisVcHandle). Called exactly
   * once per pended deactivation, synchronously from wherever the drain ended — the interrupt
   * harvest, MiniportReturnNetBufferLists, a 'backendLost' / 'ringError' event, the deadline hook
   * — so the callee should defer heavy work to its own turn. Never called for a deactivation
   * that returned SUCCESS.
   */
  onDeactivated?: (vc: MiniportVc, status: NdisStatus) => void;
}

export interface MiniportAdapterEvents {
  vcAbort: [CondisError];
  queueReset: [CondisError];
}

/** A send NBL over a transmit buffer of a VC's queue pair: sending it copies nothing. */
export class RingNetBufferList extends NetBufferList {
  constructor(
    readonly pool: BufferPool,
    readonly slot: number,
    nb: NetBuffer,
  ) {
    super(nb);
  }
}

/**
 * The driver of a queue pair the adapter does not hold (an MCM's pair 0: its signalling channel's
 * FramePort). When one of the pair's queues fails, the adapter has it reset here.
 */
export interface PairDriver {
  /**
   * Virtio queue reset of queue `q` (one of the pair's two): the driver takes back its buffers
   * and re-arms the queue. Returns the chains taken back.
   */
  resetQueue(q: number): number;
}

/** Snapshot of the adapter's buffers (tests check that nothing leaked). */
export interface PoolCounts {
  /** Free slots / capacity, summed over the pools of the adapter's pairs (1..N-1, and 0 if lent to VCs). */
  free: number;
  capacity: number;
  freePairs: number;
}

export class MiniportAdapter extends EventEmitter<MiniportAdapterEvents> {
  readonly ndis: Ndis;
  readonly device: Device;
  readonly handle: NdisMiniportHandle;
  /** Region bytes, its SharedArrayBuffer, and the virtio_net_hdr length (0 without vnetHdr). */
  readonly bytes: Uint8Array;
  readonly sab: ArrayBufferLike;
  readonly hdr: number;
  /** Largest frame a buffer holds after the header. */
  readonly frameCapacity: number;
  readonly rxResourcesThreshold: number;
  /**
   * The adapter's pairs by index: 1..N-1, and 0 unless `untaggedPair` is false (then null).
   * `freePairs`: those of 1..N-1 not lent to a VC (pair 0 is never there: only VID 0 takes it).
   */
  readonly pairs: Array<QueuePair | null>;
  readonly freePairs: QueuePair[];
  /**
   * Called each time the miniport hands send completions to NDIS (NdisMCoSendNetBufferListsComplete),
   * once per batch. For measurement (condis bench drain); null by default.
   */
  onSendsCompleted: ((vc: MiniportVc) => void) | null = null;
  readonly vcs = new Set<MiniportVc>();
  readonly vcByVid = new Map<number, MiniportVc>();
  /** Scratch for MiniportReturnNetBufferLists: pairs whose receiveq it re-posted to. */
  readonly touchedPairs: Array<QueuePair | null>;
  /** The VC whose deactivation is being decided synchronously (see control.checkDrain). */
  deactivating: MiniportVc | null = null;
  /**
   * Set once the device reported ERR_CONDIS_BACKEND_LOST, or ERR_CONDIS_DEVICE_FAILED (its I/O
   * thread stopped): either way the medium is gone, and both take the same path.
   */
  backendLost: CondisError | null = null;
  /** Queues reset after a ring error ('queueReset' events), any pair. */
  queueResets = 0;
  private halted = false;
  /** Drivers of pairs the adapter does not hold, by pair index (setPairDriver). */
  private readonly pairDrivers = new Map<number, PairDriver>();
  private readonly onDeactivated: ((vc: MiniportVc, status: NdisStatus) => void) | undefined;
  /** Copy-on-write: add/remove replace the array, so an interrupt iterates a stable snapshot. */
  private interruptHooks: ReadonlyArray<() => void> = [];

  /**
   * MiniportInitializeEx + NdisMRegisterMiniportDriver: takes over `device` (its onInterrupt, its
   * pairs 1..N-1, and pair 0 unless `untaggedPair` is false) and registers the miniport's
   * handlers with `ndis` (or through `options.register`).
   */
  constructor(ndis: Ndis, device: Device, options: MiniportAdapterOptions = {}) {
    super();
    this.ndis = ndis;
    this.device = device;
    const region = device.region;
    this.bytes = region.u8;
    this.sab = region.u8.buffer;
    this.hdr = region.payloadOffset;
    this.frameCapacity = region.bufferSize - region.payloadOffset;
    this.rxResourcesThreshold = options.rxResourcesThreshold ?? 0;
    this.onDeactivated = options.onDeactivated;
    // Pair 0's QueuePair only preallocates NBLs and scratch: its buffers stay in the pool until a
    // VID-0 VC activates, so building it costs the device nothing.
    this.pairs = [options.untaggedPair === false ? null : new QueuePair(device, 0)];
    this.freePairs = [];
    for (let k = 1; k < device.queuePairs; k++) {
      const pair = new QueuePair(device, k);
      this.pairs.push(pair);
    }
    // Lowest pair first out of the free list.
    for (let k = device.queuePairs - 1; k >= 1; k--) this.freePairs.push(this.pairs[k]!);
    this.touchedPairs = new Array<QueuePair | null>(device.queuePairs).fill(null);
    device.onInterrupt = this.onInterrupt;
    device.on('backendLost', this.onBackendLost);
    device.on('deviceFailed', this.onBackendLost);
    device.on('ringError', this.onRingError);
    device.on('close', this.onDeviceClose);
    const handlers = this.handlers();
    this.handle = options.register
      ? options.register(handlers, this)
      : ndis.registerMiniport(options.name ?? 'condis-miniport', handlers, this);
  }

  /**
   * The miniport's handlers, under their NDIS names. Contracts (states, results) are on the
   * functions they call: control.ts for the VC lifecycle and the deadline hook, send.ts
   * (MiniportCoSendNetBufferLists: never refuses, completes every NBL exactly once through
   * NdisMCoSendNetBufferListsComplete) and receive.ts (MiniportReturnNetBufferLists: any NBLs
   * this miniport indicated, in any grouping). VC contexts are MiniportVc.
   */
  private handlers(): MiniportCoHandlers {
    return {
      coCreateVc: (_adapter, h) => control.coCreateVc(this, h),
      coDeleteVc: (vc) => control.coDeleteVc(this, vc as MiniportVc),
      coActivateVc: (vc, params) => control.coActivateVc(this, vc as MiniportVc, params),
      coDeactivateVc: (vc) => control.coDeactivateVc(this, vc as MiniportVc),
      coSendNetBufferLists: (vc, nbls) => coSendNetBufferLists(this, vc as MiniportVc, nbls),
      returnNetBufferLists: (_adapter, nbls) => returnNetBufferLists(this, nbls),
      coAbortVc: (vc) => control.coAbortVc(this, vc as MiniportVc),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Interrupts (MiniportInterruptDPC): one coalesced call per device batch.

  private readonly onInterrupt = (): void => {
    const pairs = this.pairs;
    for (let k = 0; k < pairs.length; k++) {
      const pair = pairs[k];
      if (pair && pair.vc !== null) this.servicePair(pair);
    }
    const hooks = this.interruptHooks;
    for (let i = 0; i < hooks.length; i++) hooks[i]!();
  };

  /**
   * Shares the device's interrupt: `hook` runs on every coalesced interrupt, after the VCs' pairs
   * are serviced (the device has one callback and the adapter owns it). For a driver of a pair
   * the adapter does not hold — an MCM's pair 0 — which must harvest its own queues and re-enable
   * their interrupts itself. Runs on the interrupt path: no allocation, no throwing.
   */
  addInterruptHook(hook: () => void): void {
    if (!this.interruptHooks.includes(hook)) this.interruptHooks = [...this.interruptHooks, hook];
  }

  /** Stops running `hook` (idempotent; safe from inside an interrupt). */
  removeInterruptHook(hook: () => void): void {
    this.interruptHooks = this.interruptHooks.filter((h) => h !== hook);
  }

  /**
   * Names the driver of pair `pair`, one the adapter does not hold (pair 0 with `untaggedPair:
   * false`: an MCM's signalling channel), so that a ring error on it is repaired (see 'queueReset');
   * null forgets it. Without a driver such a pair's failed queue is left as it is: its buffers are
   * someone else's to take back.
   */
  setPairDriver(pair: number, driver: PairDriver | null): void {
    if (driver === null) this.pairDrivers.delete(pair);
    else this.pairDrivers.set(pair, driver);
  }

  /**
   * Harvests both queues of a bound pair until they are empty and interrupts are re-enabled
   * (FramePort.poll's loop), then lets a draining VC complete. Transmit interrupts are delayed
   * to 3/4 of what is in flight, as Linux's virtqueue_enable_cb_delayed: every chain completes,
   * so the interrupt always comes. A queue stopped on an impossible used entry yields nothing
   * and reports no work, so the loop ends; the Device's 'ringError' (onRingError) follows.
   */
  servicePair(pair: QueuePair): void {
    for (;;) {
      const vc = pair.vc;
      if (vc === null) return;
      const t = harvestTx(this, vc, pair);
      if (pair.vc !== vc) return;
      const r = harvestRx(this, vc, pair);
      if (pair.vc !== vc) return;
      if (vc.state === VcState.Draining && vc.drained) {
        control.checkDrain(this, vc);
        if (pair.vc !== vc) return;
      }
      if (t === 0 && r === 0) {
        const txDelay = (pair.txq.inFlight() * 3) >>> 2;
        const more = pair.txq.enableInterrupts(txDelay) || pair.rxq.enableInterrupts();
        if (!more) return;
      }
    }
  }

  /** Called by the data path after it lowered a Draining VC's counters. */
  checkDrain(vc: MiniportVc): void {
    control.checkDrain(this, vc);
  }

  /** The end of a pended deactivation (control.ts): to the owner's onDeactivated, else to NDIS. */
  deactivated(vc: MiniportVc, status: NdisStatus): void {
    if (this.onDeactivated) this.onDeactivated(vc, status);
    else this.ndis.mCoDeactivateVcComplete(status, vc.ndisVcHandle);
  }

  private readonly onBackendLost = (err: CondisError): void => {
    this.backendLost = err;
    for (const vc of this.vcs) if (vc.state === VcState.Draining) control.abortVc(this, vc, err);
  };

  /** The device was closed under the miniport (not by halt()): see control.deviceClosed. */
  private readonly onDeviceClose = (): void => control.deviceClosed(this);

  /**
   * A queue went to NEEDS_RESET (the device's report, synchronous from the interrupt) or its
   * DriverQueue stopped on an impossible used entry (the driver's, a microtask later). A draining
   * VC's deactivation is aborted (control.abortVc); any other queue in service is reset and
   * re-armed ('queueReset'). The free pairs 1..N-1 are stopped (nothing reads them) and are reset
   * before they are lent again: nothing to do there.
   */
  private readonly onRingError = (err: CondisError): void => {
    const q = err.details.queue as number | undefined;
    if (q === undefined) return;
    const dq = q % 2 === 0 ? this.device.rx[q >>> 1] : this.device.tx[q >>> 1];
    if (dq === undefined) return;
    const pair = this.pairs[q >>> 1];
    const vc = pair?.vc ?? null;
    if (pair && vc?.state === VcState.Draining) {
      // A fault during the drain fails the deactivation, even if the queue was reset since (the
      // deactivation's own harvest can find it and its stopReceive reset the receiveq before the
      // report): abortVc acts once per deactivation (it re-arms the VC Active).
      control.abortVc(this, vc, err);
      return;
    }
    // Once per fault. The driver's own stop is reported a microtask after it happened: by then the
    // queue may have been reset (the device's report of the same queue in the same interrupt, the
    // abort of a drain), and a second reset would abort sends placed on the fresh ring.
    if (!dq.faultStands(err)) return;
    if (pair && vc !== null) {
      // An Active VC survives a broken queue: reset it and carry on.
      if (q % 2 === 1) {
        resetTransmitq(this, vc, pair);
      } else {
        const n = this.resetQueue(q, pair.tokens);
        pair.rxPool.freeMany(pair.tokens, n);
        pair.fillRx();
        this.device.publish(pair.rxq);
      }
      pair.rxq.enableInterrupts();
      pair.txq.enableInterrupts();
    } else if (pair && pair.index === 0) {
      // Pair 0 with no VC on VID 0: its queues stay enabled (untagged frames keep arriving), so
      // the next VID-0 activation would find this one failed. Nothing of a VC is on it.
      this.resetIdleQueue(pair, q);
    } else {
      // Another driver's pair (an MCM's signalling channel): it takes back its own buffers. A
      // closed device has stopped; that driver reclaims nothing from it any more.
      const driver = this.pairDrivers.get(q >>> 1);
      if (!driver || this.device.closed) return;
      driver.resetQueue(q);
    }
    this.queueResets++;
    this.emit('queueReset', err);
  };

  /**
   * Resets queue q of a pair no VC holds: receive buffers go back to the pool; a transmit chain
   * (none is left once a VC's drain ended) gives back its token and copy buffer.
   */
  private resetIdleQueue(pair: QueuePair, q: number): void {
    const n = this.resetQueue(q, pair.tokens);
    if (q % 2 === 0) {
      pair.rxPool.freeMany(pair.tokens, n);
      return;
    }
    for (let i = 0; i < n; i++) {
      const t = pair.tokens[i]!;
      const slot = pair.txSlot[t]!;
      if (slot >= 0) pair.txPool.free(slot);
      pair.freeToken(t);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Device control, tolerant of a device that is already closed.

  /**
   * Virtio queue reset of queue q; the tokens of every chain that was in flight go to `out`.
   * On a closed device (its thread has stopped, nothing touches the ring) the driver side
   * reclaims alone.
   */
  resetQueue(q: number, out: Uint32Array): number {
    if (this.device.closed) {
      const dq = q % 2 === 0 ? this.device.rx[q >>> 1]! : this.device.tx[q >>> 1]!;
      return this.reclaimStopped(dq, out);
    }
    return this.device.resetQueue(q, out);
  }

  /**
   * A queue reset done from the driver side alone, once the device has stopped (closed or
   * destroyed: its thread is gone, nothing else touches the ring). A live device's reset zeroes
   * used.idx, which DriverQueue.reclaimAfterReset relies on; a stopped one cannot, so it is
   * zeroed here. Left as the device last wrote it, it would read as entries the driver never
   * published: the queue would call itself broken and every enableInterrupts() would report more
   * work (a poll loop would never end).
   */
  private reclaimStopped(dq: DriverQueue, out: Uint32Array): number {
    const n = dq.reclaimAfterReset(out);
    const r = this.device.region;
    // A plain write: the device thread has stopped; only this thread reads the ring now.
    r.dv.setUint16(queueBaseOffset(dq.index, r.queueSize) + r.layout.usedOff + kUsedIdxOff, 0, true);
    return n;
  }

  unbindPair(pair: number): void {
    if (!this.device.closed) this.device.unbindPair(pair);
  }

  /**
   * Stops both queues of a pair at the end of a deactivation and reclaims both rings: receive
   * tokens to rxOut, transmit tokens to txOut. On a closed device the driver side reclaims alone.
   * - pairs 1..N-1: unbind + stop in one native call (Device.quiescePair, no syscall): this is on
   *   the path of every deactivation's completion, so it must cost microseconds, not kicks and
   *   wakeups;
   * - pair 0: Device.quiescePair refuses it (nothing to unbind), so each queue gets a virtio
   *   queue reset (Device.resetQueue), receiveq first so that nothing more lands. The queues are
   *   left enabled and empty: untagged frames that arrive meanwhile find no buffer (a TAP drops
   *   them; a wire peer waits for buffers, as on any pair with none posted).
   */
  /**
   * Stops pair k (k >= 1) for a deactivation that drained: one native call (unbind + disable),
   * then the transmit ring is reclaimed now (its tokens, if any, to txOut; returns how many) and
   * the receive ring lazily (reclaimRx: before the pair is bound again, or when pool counts are
   * asked for). Its posted buffers are only pool slots of a pair nobody uses meanwhile, and
   * taking back a ring of them (~3 us for 1024) on the way to the deactivation's completion, or
   * in a microtask queued ahead of NDIS's delivery of it, delayed that completion.
   */
  stopPairDeferRx(pair: QueuePair, txOut: Uint32Array): number {
    // A frame the device delivered after the last harvest is dropped like any frame that
    // reaches a draining VC: counted, never indicated.
    const discarded = this.device.stopPair(pair.index);
    if (pair.vc !== null) pair.vc.counters.rxDiscarded += discarded;
    pair.rxReclaimPending = true;
    return pair.txq.reclaimAfterReset(txOut);
  }

  /**
   * A deactivation that pends stops its pair's receive queue at once (Device.stopReceive): a
   * draining VC indicates nothing new, so the buffers posted there are of no use, and a device
   * paused for them learns it now (and reads and drops instead), not on the way to the
   * completion, where waking its thread cost several microseconds of the overhead.
   */
  stopReceive(pair: QueuePair): void {
    if (this.device.closed) return;
    const [n, discarded] = this.device.stopReceive(pair.index, pair.lens);
    pair.rxPool.freeMany(pair.lens, n);
    if (pair.vc !== null) pair.vc.counters.rxDiscarded += discarded;
  }

  /** Takes back the buffers a stopped pair's receive ring still held (see stopPairDeferRx). */
  reclaimRx(pair: QueuePair): void {
    if (!pair.rxReclaimPending) return;
    pair.rxReclaimPending = false;
    const n = pair.rxq.reclaimAfterReset(pair.lens);
    pair.rxPool.freeMany(pair.lens, n);
  }

  quiescePair(pair: number, rxOut: Uint32Array, txOut: Uint32Array): [number, number] {
    if (this.device.closed) {
      return [
        this.reclaimStopped(this.device.rx[pair]!, rxOut),
        this.reclaimStopped(this.device.tx[pair]!, txOut),
      ];
    }
    if (pair === 0) return [this.device.resetQueue(0, rxOut), this.device.resetQueue(1, txOut)];
    return this.device.quiescePair(pair, rxOut, txOut);
  }

  // ---------------------------------------------------------------------------------------------
  // Public surface

  /** The miniport's context of the VC a handle (any party's) names, or undefined. */
  vcFor(vcHandle: NdisVcHandle): MiniportVc | undefined {
    const slot = this.ndis.vcInfo(vcHandle)?.slot;
    if (slot === undefined) return undefined;
    for (const vc of this.vcs) if (this.ndis.vcInfo(vc.ndisVcHandle)?.slot === slot) return vc;
    return undefined;
  }

  /**
   * A send NBL over a transmit buffer of the queue pair the VC is active on (a condis-tap
   * extension in the spirit of NdisAllocateNetBufferAndNetBufferList over shared memory): write
   * the frame into `nbl.firstNetBuffer.data()` and send it — it goes on the ring without a copy.
   * The buffer is the caller's until `freeSendNetBufferList`; it is taken from the pair's
   * transmit pool, so the copy path has one buffer less meanwhile. undefined if the VC is not
   * active, the length does not fit a buffer, or the pool is empty. `sourceHandle` is set to
   * `vcHandle` (the caller's handle).
   */
  allocateSendNetBufferList(vcHandle: NdisVcHandle, length: number): RingNetBufferList | undefined {
    const vc = this.vcFor(vcHandle);
    const pair = vc?.pair;
    if (!vc || !pair || vc.state !== VcState.Active) return undefined;
    if (!(length > 0 && length <= this.frameCapacity)) return undefined;
    const slot = pair.txPool.alloc();
    if (slot < 0) return undefined;
    const nbl = new RingNetBufferList(
      pair.txPool,
      slot,
      new NetBuffer(this.bytes, pair.txPool.offsetOf(slot) + this.hdr, length),
    );
    nbl.sourceHandle = vcHandle;
    return nbl;
  }

  /** Gives a RingNetBufferList's buffer back to its pool (after its send completed). */
  freeSendNetBufferList(nbl: RingNetBufferList): void {
    nbl.pool.free(nbl.slot);
  }

  /** Free and total buffers of the adapter's pairs (everything back = free === capacity). */
  poolCounts(): PoolCounts {
    for (const p of this.pairs) if (p) this.reclaimRx(p);
    let free = 0;
    let capacity = 0;
    for (let k = 0; k < this.pairs.length; k++) {
      const p = this.pairs[k];
      if (!p) continue;
      free += p.rxPool.available() + p.txPool.available();
      capacity += p.rxPool.capacity + p.txPool.capacity;
    }
    return { free, capacity, freePairs: this.freePairs.length };
  }

  /**
   * MiniportHaltEx: deregisters from NDIS (which asserts no VC is left, spec §5 U10), detaches
   * from the device and closes it (close() transmits what was posted, bounded). Idempotent.
   */
  async halt(): Promise<void> {
    if (this.halted) return;
    this.halted = true;
    const st = this.ndis.deregisterMiniport(this.handle);
    this.device.off('backendLost', this.onBackendLost);
    this.device.off('deviceFailed', this.onBackendLost);
    this.device.off('ringError', this.onRingError);
    this.device.off('close', this.onDeviceClose);
    this.device.onInterrupt = null;
    this.interruptHooks = [];
    await this.device.close();
    if (st !== NDIS_STATUS_SUCCESS) throw new Error('MiniportAdapter.halt: VCs still present');
  }
}
