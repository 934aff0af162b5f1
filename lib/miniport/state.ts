/**
 * AdapterState: what one MiniportAdapter owns, and the operations on it, each named for what it
 * does. The device and the region facts the data path reads; the queue pairs (lent to VCs and
 * taken back: `takeFreePair`, `releasePair`); which VC each VID carries (`claimVid`,
 * `releaseVid`); the VC contexts; the guard that keeps a drain reaching zero from completing a
 * deactivation that is being decided synchronously (`holdDrainEnd`); the medium's loss; and the
 * device control the miniport does on a pair, tolerant of a device closed under it (queue reset,
 * stop, reclaim).
 *
 * Layer: above the contexts (vc.ts), below every module that works on the adapter's state —
 * send.ts and receive.ts (data path), drain.ts (the end of a drain), interrupt.ts, control.ts
 * (VC lifecycle) — and adapter.ts on top, which owns the one instance and keeps it private.
 * Nothing here calls up: the two ends that leave the miniport (the end of a pended
 * deactivation, a 'vcAbort' report) are callbacks the adapter passes to the constructor.
 *
 * The collections are private; the data path reads only readonly fields (device, ndis, hdr,
 * bytes, sab...) and the scratch array it owns, so nothing on it pays for the encapsulation.
 */
import type { Device } from '../device/device';
import type { CondisError } from '../errors';
import type { Ndis } from '../ndis/ndis';
import type { NdisStatus } from '../ndis/status';
import type { DriverQueue } from '../virtio/driver-queue';
import { kUsedIdxOff, queueBaseOffset } from '../virtio/layout';
import { type MiniportVc, QueuePair } from './vc';

export interface AdapterStateOptions {
  /** MiniportAdapterOptions.rxResourcesThreshold (default 0: never). */
  rxResourcesThreshold?: number;
  /** MiniportAdapterOptions.untaggedPair: false leaves pair 0 to someone else (default true). */
  untaggedPair?: boolean;
  /** MiniportAdapterOptions.onDeactivated; default NdisMCoDeactivateVcComplete. */
  onDeactivated?: ((vc: MiniportVc, status: NdisStatus) => void) | undefined;
  /** Reports an aborted deactivation (the adapter emits it as 'vcAbort'). */
  onVcAbort: (err: CondisError) => void;
  /** MiniportAdapterOptions.offloads: map NBL offload info to and from the virtio_net_hdr. */
  offloads?: boolean;
}

export class AdapterState {
  readonly ndis: Ndis;
  readonly device: Device;
  /** Region bytes, its SharedArrayBuffer, and the virtio_net_hdr length (0 without vnetHdr). */
  readonly bytes: Uint8Array;
  readonly sab: ArrayBufferLike;
  readonly hdr: number;
  /** Largest frame a buffer holds after the header. */
  readonly frameCapacity: number;
  readonly rxResourcesThreshold: number;
  /** Offloads on (and a vnetHdr device): send.ts/receive.ts map NBL info to and from the header. */
  readonly offloads: boolean;
  /**
   * Called each time the miniport hands send completions to NDIS (MiniportAdapter.onSendsCompleted,
   * which reads and writes this field), once per batch. For measurement; null by default.
   */
  onSendsCompleted: ((vc: MiniportVc) => void) | null = null;
  /** Scratch for MiniportReturnNetBufferLists (receive.ts): pairs whose receiveq it re-posted to. */
  readonly touchedPairs: Array<QueuePair | null>;
  /** The adapter's pairs by index: 1..N-1, and 0 unless `untaggedPair` is false (then null). */
  private readonly allPairs: Array<QueuePair | null>;
  /** Pairs 1..N-1 not lent to a VC, lowest last (pair 0 is never here: only VID 0 takes it). */
  private readonly freePairs: QueuePair[] = [];
  private readonly vcSet = new Set<MiniportVc>();
  private readonly vcByVid = new Map<number, MiniportVc>();
  /** The VC whose deactivation is being decided synchronously (holdDrainEnd). */
  private drainEndHeldFor: MiniportVc | null = null;
  private lost: CondisError | null = null;
  private readonly onDeactivated: ((vc: MiniportVc, status: NdisStatus) => void) | undefined;
  private readonly onVcAbort: (err: CondisError) => void;

  constructor(ndis: Ndis, device: Device, options: AdapterStateOptions) {
    this.ndis = ndis;
    this.device = device;
    const region = device.region;
    this.bytes = region.u8;
    this.sab = region.u8.buffer;
    this.hdr = region.payloadOffset;
    this.frameCapacity = region.bufferSize - region.payloadOffset;
    this.rxResourcesThreshold = options.rxResourcesThreshold ?? 0;
    this.offloads = options.offloads === true && region.payloadOffset > 0;
    this.onDeactivated = options.onDeactivated;
    this.onVcAbort = options.onVcAbort;
    // Pair 0's QueuePair only preallocates NBLs and scratch: its buffers stay in the pool until a
    // VID-0 VC activates, so building it costs the device nothing.
    this.allPairs = [options.untaggedPair === false ? null : new QueuePair(device, 0)];
    for (let k = 1; k < device.queuePairs; k++) this.allPairs.push(new QueuePair(device, k));
    // Lowest pair first out of the free list.
    for (let k = device.queuePairs - 1; k >= 1; k--) this.freePairs.push(this.allPairs[k]!);
    this.touchedPairs = new Array<QueuePair | null>(device.queuePairs).fill(null);
  }

  // ---------------------------------------------------------------------------------------------
  // Queue pairs

  /** The adapter's pairs by index: 1..N-1, and 0 unless `untaggedPair` is false (then null). */
  get pairs(): ReadonlyArray<QueuePair | null> {
    return this.allPairs;
  }

  /** Lends the lowest free pair 1..N-1, or undefined when every one is lent. */
  takeFreePair(): QueuePair | undefined {
    return this.freePairs.pop();
  }

  /** Takes back a pair 1..N-1 that no VC holds any more (pair 0 is never on the free list). */
  releasePair(pair: QueuePair): void {
    if (pair.index !== 0) this.freePairs.push(pair);
  }

  /** How many pairs 1..N-1 are free to lend. */
  get freePairCount(): number {
    return this.freePairs.length;
  }

  // ---------------------------------------------------------------------------------------------
  // VCs and their VIDs

  /** The miniport's VC contexts (MiniportCoCreateVc to MiniportCoDeleteVc). */
  get vcs(): ReadonlySet<MiniportVc> {
    return this.vcSet;
  }

  addVc(vc: MiniportVc): void {
    this.vcSet.add(vc);
  }

  deleteVc(vc: MiniportVc): void {
    this.vcSet.delete(vc);
  }

  /** Whether a VC is carried on `vid` (for VID 0: whether pair 0 is held). */
  vidClaimed(vid: number): boolean {
    return this.vcByVid.has(vid);
  }

  /** `vc` is carried on `vid` from now on (one VC per VID). */
  claimVid(vid: number, vc: MiniportVc): void {
    this.vcByVid.set(vid, vc);
  }

  /** No VC is carried on `vid` any more. */
  releaseVid(vid: number): void {
    this.vcByVid.delete(vid);
  }

  // ---------------------------------------------------------------------------------------------
  // The end of a deactivation

  /**
   * While held for `vc`, a drain of `vc` reaching zero does not complete its deactivation
   * (drain.ts checkDrain returns): the caller decides — coDeactivateVc returns SUCCESS itself,
   * abortVc completes with REQUEST_ABORTED. Held for one VC at a time, synchronously; pair each
   * hold with releaseDrainEnd in a finally.
   */
  holdDrainEnd(vc: MiniportVc): void {
    this.drainEndHeldFor = vc;
  }

  releaseDrainEnd(): void {
    this.drainEndHeldFor = null;
  }

  drainEndHeld(vc: MiniportVc): boolean {
    return this.drainEndHeldFor === vc;
  }

  /** The end of a pended deactivation: to the owner's onDeactivated, else to NDIS. */
  deactivated(vc: MiniportVc, status: NdisStatus): void {
    if (this.onDeactivated) this.onDeactivated(vc, status);
    else this.ndis.mCoDeactivateVcComplete(status, vc.ndisVcHandle);
  }

  /** An aborted deactivation, reported to the adapter's owner ('vcAbort'). */
  reportAbort(err: CondisError): void {
    this.onVcAbort(err);
  }

  /**
   * Set once the device reported ERR_CONDIS_BACKEND_LOST, or ERR_CONDIS_DEVICE_FAILED (its I/O
   * thread stopped): either way the medium is gone, and both take the same path.
   */
  get backendLost(): CondisError | null {
    return this.lost;
  }

  markBackendLost(err: CondisError): void {
    this.lost = err;
  }

  // ---------------------------------------------------------------------------------------------
  // Device control on a pair, tolerant of a device that is already closed.

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
   * Resets the receiveq of a pair whose VC stays Active (its queue failed): the buffers come
   * back to the pool and are posted again, published.
   */
  resetReceiveq(pair: QueuePair): void {
    const n = this.resetQueue(pair.rxq.index, pair.tokens);
    pair.rxPool.freeMany(pair.tokens, n);
    pair.fillRx();
    this.device.publish(pair.rxq);
  }

  /**
   * Resets queue q of a pair no VC holds: receive buffers go back to the pool; a transmit chain
   * (none is left once a VC's drain ended) gives back its token and copy buffer.
   */
  resetIdleQueue(pair: QueuePair, q: number): void {
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

  /**
   * Stops both queues of a pair at the end of a deactivation and reclaims both rings: receive
   * tokens to rxOut, transmit tokens to txOut. On a closed device the driver side reclaims alone.
   * - pairs 1..N-1: unbind + stop in one native call (Device.quiescePair, no syscall);
   * - pair 0: Device.quiescePair refuses it (nothing to unbind), so each queue gets a virtio
   *   queue reset (Device.resetQueue), receiveq first so that nothing more lands. The queues are
   *   left enabled and empty: untagged frames that arrive meanwhile find no buffer (a TAP drops
   *   them; a wire peer waits for buffers, as on any pair with none posted).
   * A live device's pair k >= 1 takes stopPairDeferRx instead (drain.ts teardown).
   */
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
}
