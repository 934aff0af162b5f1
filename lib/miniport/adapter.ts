/**
 * MiniportAdapter: the reference CoNDIS miniport over one condis-tap Device (the adapter context
 * of MiniportInitializeEx). It owns the Device, its free queue pairs 1..N-1 (lent to tagged VCs),
 * pair 0 (untagged: lent to the one VC on VID 0, unless `untaggedPair: false` leaves it to
 * someone else), the interrupt handler that services every pair a VC holds, and the VCs'
 * contexts. Handlers are registered with `ndis.registerMiniport` under their NDIS names (or
 * handed to `options.register`, see below) and delegate to control.ts (VC lifecycle), send.ts and
 * receive.ts (data path).
 *
 * Layer: the top of lib/miniport, the facade the runtime and the user see. Inside, imports point
 * down only (test/unit/import-cycles.test.ts keeps it so):
 *
 *   adapter.ts    MiniportCoHandlers, the device's interrupt and events, the public surface
 *   control.ts    VC lifecycle: create, activate, deactivate, delete, deadline, device closed
 *   interrupt.ts  servicePair: harvest a pair's two queues, let a drain end
 *   receive.ts    harvestRx, MiniportReturnNetBufferLists
 *   drain.ts      the end of a drain: checkDrain (SUCCESS), abortVc (REQUEST_ABORTED)
 *   send.ts       MiniportCoSendNetBufferLists, transmit harvest, software queue, transmitq abort
 *   state.ts      AdapterState: pairs, VIDs, VCs, the drain-end guard, device control on a pair
 *   vc.ts         the contexts: MiniportVc and the QueuePair it holds
 *
 * Why a state object under the modules, not the adapter passed down to them: the control and
 * data-path functions used to take the adapter and work on its public, mutable fields
 * (freePairs, vcByVid, deactivating...), and the adapter imported them back, so each end reached
 * into the other. Now what they work on is AdapterState, one level below them, whose collections
 * are private behind methods that say what they do (takeFreePair, claimVid, holdDrainEnd...);
 * the adapter owns the one instance privately and exposes only read-only views. The functions
 * stay free functions over the state rather than methods of classes per concern: the hot paths
 * (coSendNetBufferLists per chain, harvest, indicate, return) keep the shape they were measured
 * in — a direct call with the state as first argument, readonly fields read off one object, no
 * extra hop or lookup per NBL — and the handlers' closures capture the state itself. What leaves
 * the miniport from below (the end of a pended deactivation, a 'vcAbort') goes through callbacks
 * the adapter hands the state, so nothing calls up by import.
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
 * - 'vcAbort' (CondisError): a deactivation was aborted (see drain.ts abortVc): the code says
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
import { CondisError } from '../errors';
import type { MiniportCoHandlers, NdisMiniportHandle, NdisVcHandle } from '../ndis/actors';
import { NetBuffer, NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, type NdisStatus } from '../ndis/status';
import type { BufferPool } from '../virtio/buffer-pool';
import { kBigRxBufferBytes } from '../virtio/vnet-hdr';
import * as control from './control';
import { abortVc } from './drain';
import { servicePair } from './interrupt';
import { offloadFromFeatures } from './offload';
import { returnNetBufferLists } from './receive';
import { coSendNetBufferLists, resetTransmitq } from './send';
import { AdapterState } from './state';
import { type MiniportVc, type QueuePair, VcState } from './vc';

/** Options of `new MiniportAdapter(ndis, device, options)`. */
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
  /**
   * Task offloads (issue 13). true: the device must have been opened with `vnetHdr: true` (and
   * `features: kMiniportOffloadFeatures` for all of them); the adapter advertises the NDIS_OFFLOAD
   * its negotiated features allow (lib/miniport/offload.ts) with NdisMSetMiniportAttributes, so
   * protocols can query it and set OID_TCP_OFFLOAD_PARAMETERS. Default false: nothing advertised,
   * today's behaviour.
   */
  offloads?: boolean;
}

/** The adapter's events: 'vcAbort' and 'queueReset' (see the top of this file). */
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

/**
 * The reference CoNDIS miniport over a Device (see the top of this file): `new MiniportAdapter(ndis,
 * device)` registers it; `handle` is its NdisMiniportHandle, what clients and call managers bind to.
 */
export class MiniportAdapter extends EventEmitter<MiniportAdapterEvents> {
  readonly handle: NdisMiniportHandle;
  /** Everything the adapter owns; private: the modules below work on it through its methods. */
  private readonly st: AdapterState;
  /** Queues reset after a ring error ('queueReset' events), any pair. */
  private resets = 0;
  private halted = false;
  /** Drivers of pairs the adapter does not hold, by pair index (setPairDriver). */
  private readonly pairDrivers = new Map<number, PairDriver>();
  /** Copy-on-write: add/remove replace the array, so an interrupt iterates a stable snapshot. */
  private interruptHooks: ReadonlyArray<() => void> = [];

  /**
   * MiniportInitializeEx + NdisMRegisterMiniportDriver: takes over `device` (its onInterrupt, its
   * pairs 1..N-1, and pair 0 unless `untaggedPair` is false) and registers the miniport's
   * handlers with `ndis` (or through `options.register`).
   */
  constructor(ndis: Ndis, device: Device, options: MiniportAdapterOptions = {}) {
    super();
    this.st = new AdapterState(ndis, device, {
      rxResourcesThreshold: options.rxResourcesThreshold,
      untaggedPair: options.untaggedPair,
      onDeactivated: options.onDeactivated,
      offloads: options.offloads,
      onVcAbort: (err) => this.emit('vcAbort', err),
    });
    device.onInterrupt = this.onInterrupt;
    device.on('backendLost', this.onBackendLost);
    device.on('deviceFailed', this.onBackendLost);
    device.on('ringError', this.onRingError);
    device.on('close', this.onDeviceClose);
    const handlers = this.handlers();
    this.handle = options.register
      ? options.register(handlers, this)
      : ndis.registerMiniport(options.name ?? 'condis-miniport', handlers, this);
    if (options.offloads) {
      const info = device.info();
      if (!info.vnetHdr)
        throw new CondisError(
          'ERR_CONDIS_INVALID_ARG',
          'MiniportAdapter offloads: true needs a device opened with vnetHdr: true',
        );
      const negotiated = info.features.negotiated;
      // Big receive buffers (virtio 5.1.6.3.1, no MRG_RXBUF): with a GUEST_TSO feature every
      // posted receive buffer must hold a 64 KiB frame. The region's buffers are one size, fixed
      // at open (bufferSize), so memory stays bounded at bufferSize x buffersPerQueue x 2 x
      // queuePairs; the adapter refuses a device whose buffers are too small rather than grow.
      const big = negotiated.includes('GUEST_TSO4') || negotiated.includes('GUEST_TSO6');
      if (big && device.region.bufferSize < kBigRxBufferBytes)
        throw new CondisError(
          'ERR_CONDIS_INVALID_ARG',
          `MiniportAdapter offloads with GUEST_TSO: open the device with bufferSize >= ${kBigRxBufferBytes} (got ${device.region.bufferSize})`,
        );
      ndis.setMiniportOffloadAttributes(this.handle, offloadFromFeatures(negotiated));
    }
  }

  /**
   * The miniport's handlers, under their NDIS names. Contracts (states, results) are on the
   * functions they call: control.ts for the VC lifecycle and the deadline hook, send.ts
   * (MiniportCoSendNetBufferLists: never refuses, completes every NBL exactly once through
   * NdisMCoSendNetBufferListsComplete) and receive.ts (MiniportReturnNetBufferLists: any NBLs
   * this miniport indicated, in any grouping). VC contexts are MiniportVc.
   */
  private handlers(): MiniportCoHandlers {
    // The closures hold the state itself, not `this`: a send reads no more than it did when the
    // functions took the adapter.
    const st = this.st;
    return {
      coCreateVc: (_adapter, h) => control.coCreateVc(st, h),
      coDeleteVc: (vc) => control.coDeleteVc(st, vc as MiniportVc),
      coActivateVc: (vc, params) => control.coActivateVc(st, vc as MiniportVc, params),
      coDeactivateVc: (vc) => control.coDeactivateVc(st, vc as MiniportVc),
      coSendNetBufferLists: (vc, nbls) => coSendNetBufferLists(st, vc as MiniportVc, nbls),
      returnNetBufferLists: (_adapter, nbls) => returnNetBufferLists(st, nbls),
      coAbortVc: (vc) => control.coAbortVc(st, vc as MiniportVc),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Read-only views (the state itself stays private)

  get ndis(): Ndis {
    return this.st.ndis;
  }

  get device(): Device {
    return this.st.device;
  }

  /** Largest frame a buffer holds after the header. */
  get frameCapacity(): number {
    return this.st.frameCapacity;
  }

  /** The adapter's pairs by index: 1..N-1, and 0 unless `untaggedPair` is false (then null). */
  get pairs(): ReadonlyArray<QueuePair | null> {
    return this.st.pairs;
  }

  /**
   * Set once the device reported ERR_CONDIS_BACKEND_LOST, or ERR_CONDIS_DEVICE_FAILED (its I/O
   * thread stopped): either way the medium is gone, and both take the same path.
   */
  get backendLost(): CondisError | null {
    return this.st.backendLost;
  }

  /** Queues reset after a ring error ('queueReset' events), any pair. */
  get queueResets(): number {
    return this.resets;
  }

  /**
   * Called each time the miniport hands send completions to NDIS (NdisMCoSendNetBufferListsComplete),
   * once per batch. For measurement (condis bench drain); null by default.
   */
  get onSendsCompleted(): ((vc: MiniportVc) => void) | null {
    return this.st.onSendsCompleted;
  }

  set onSendsCompleted(f: ((vc: MiniportVc) => void) | null) {
    this.st.onSendsCompleted = f;
  }

  // ---------------------------------------------------------------------------------------------
  // Interrupts (MiniportInterruptDPC): one coalesced call per device batch.

  private readonly onInterrupt = (): void => {
    const st = this.st;
    const pairs = st.pairs;
    for (let k = 0; k < pairs.length; k++) {
      const pair = pairs[k];
      if (pair && pair.vc !== null) servicePair(st, pair);
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

  // ---------------------------------------------------------------------------------------------
  // The device's events

  private readonly onBackendLost = (err: CondisError): void => {
    const st = this.st;
    st.markBackendLost(err);
    for (const vc of st.vcs) if (vc.state === VcState.Draining) abortVc(st, vc, err);
  };

  /** The device was closed under the miniport (not by halt()): see control.deviceClosed. */
  private readonly onDeviceClose = (): void => control.deviceClosed(this.st);

  /**
   * A queue went to NEEDS_RESET (the device's report, synchronous from the interrupt) or its
   * DriverQueue stopped on an impossible used entry (the driver's, a microtask later). A draining
   * VC's deactivation is aborted (drain.ts abortVc); any other queue in service is reset and
   * re-armed ('queueReset'). The free pairs 1..N-1 are stopped (nothing reads them) and are reset
   * before they are lent again: nothing to do there.
   */
  private readonly onRingError = (err: CondisError): void => {
    const st = this.st;
    const q = err.details.queue as number | undefined;
    if (q === undefined) return;
    const dq = q % 2 === 0 ? st.device.rx[q >>> 1] : st.device.tx[q >>> 1];
    if (dq === undefined) return;
    const pair = st.pairs[q >>> 1];
    const vc = pair?.vc ?? null;
    if (pair && vc?.state === VcState.Draining) {
      // A fault during the drain fails the deactivation, even if the queue was reset since (the
      // deactivation's own harvest can find it and its stopReceive reset the receiveq before the
      // report): abortVc acts once per deactivation (it re-arms the VC Active).
      abortVc(st, vc, err);
      return;
    }
    // Once per fault. The driver's own stop is reported a microtask after it happened: by then the
    // queue may have been reset (the device's report of the same queue in the same interrupt, the
    // abort of a drain), and a second reset would abort sends placed on the fresh ring.
    if (!dq.faultStands(err)) return;
    if (pair && vc !== null) {
      // An Active VC survives a broken queue: reset it and carry on.
      if (q % 2 === 1) resetTransmitq(st, vc, pair);
      else st.resetReceiveq(pair);
      pair.rxq.enableInterrupts();
      pair.txq.enableInterrupts();
    } else if (pair && pair.index === 0) {
      // Pair 0 with no VC on VID 0: its queues stay enabled (untagged frames keep arriving), so
      // the next VID-0 activation would find this one failed. Nothing of a VC is on it.
      st.resetIdleQueue(pair, q);
    } else {
      // Another driver's pair (an MCM's signalling channel): it takes back its own buffers. A
      // closed device has stopped; that driver reclaims nothing from it any more.
      const driver = this.pairDrivers.get(q >>> 1);
      if (!driver || st.device.closed) return;
      driver.resetQueue(q);
    }
    this.resets++;
    this.emit('queueReset', err);
  };

  // ---------------------------------------------------------------------------------------------
  // Public surface

  /** The miniport's context of the VC a handle (any party's) names, or undefined. */
  vcFor(vcHandle: NdisVcHandle): MiniportVc | undefined {
    const ndis = this.st.ndis;
    const slot = ndis.vcInfo(vcHandle)?.slot;
    if (slot === undefined) return undefined;
    for (const vc of this.st.vcs) if (ndis.vcInfo(vc.ndisVcHandle)?.slot === slot) return vc;
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
    const st = this.st;
    const vc = this.vcFor(vcHandle);
    const pair = vc?.pair;
    if (!vc || !pair || vc.state !== VcState.Active) return undefined;
    if (!(length > 0 && length <= st.frameCapacity)) return undefined;
    const slot = pair.txPool.alloc();
    if (slot < 0) return undefined;
    const nbl = new RingNetBufferList(
      pair.txPool,
      slot,
      new NetBuffer(st.bytes, pair.txPool.offsetOf(slot) + st.hdr, length),
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
    const st = this.st;
    const pairs = st.pairs;
    for (const p of pairs) if (p) st.reclaimRx(p);
    let free = 0;
    let capacity = 0;
    for (let k = 0; k < pairs.length; k++) {
      const p = pairs[k];
      if (!p) continue;
      free += p.rxPool.available() + p.txPool.available();
      capacity += p.rxPool.capacity + p.txPool.capacity;
    }
    return { free, capacity, freePairs: st.freePairCount };
  }

  /**
   * MiniportHaltEx: deregisters from NDIS (which asserts no VC is left, spec §5 U10), detaches
   * from the device and closes it (close() transmits what was posted, bounded). Idempotent.
   */
  async halt(): Promise<void> {
    if (this.halted) return;
    this.halted = true;
    const device = this.st.device;
    const status = this.st.ndis.deregisterMiniport(this.handle);
    device.off('backendLost', this.onBackendLost);
    device.off('deviceFailed', this.onBackendLost);
    device.off('ringError', this.onRingError);
    device.off('close', this.onDeviceClose);
    device.onInterrupt = null;
    this.interruptHooks = [];
    await device.close();
    if (status !== NDIS_STATUS_SUCCESS) {
      throw new CondisError('ERR_CONDIS_VCS_PRESENT', 'MiniportAdapter.halt: VCs still present', { status });
    }
  }
}
