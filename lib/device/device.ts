/**
 * Device: the driver's handle on one NIC — its shared region, the driver side of every queue,
 * per-queue buffer pools, and the native device (TAP or one end of a wire).
 *
 * Interrupts: the addon calls back at most once per batch (coalesced); the Device checks the
 * region's config generation for queue and device status changes (reported as 'ringError',
 * 'backendLost' and 'deviceFailed' events carrying a CondisError), then runs the driver's
 * `onInterrupt`. 'close' says the device has stopped: a driver still holding buffers on its
 * rings reclaims them then.
 *
 * 'deviceFailed' (ERR_CONDIS_DEVICE_FAILED): the device's I/O thread had to stop (a system call it
 * cannot work without failed; `errno` and `syscall` say which). Its last act completed every send
 * it could see with TxStatus.DeviceFailed; a send posted afterwards completes the same way when
 * its publish kicks; nothing is received any more (a wire peer's sends to it complete PeerGone).
 * The device cannot recover: close() or destroy() it (both still work).
 */
import { EventEmitter } from 'node:events';
import { getSystemErrorName } from 'node:util';
import { CondisError, fromNative, ringErrorCode } from '../errors';
import type { NativeDevice, NativeInfo, NativeStats } from '../native';
import { BufferPool } from '../virtio/buffer-pool';
import { DriverQueue } from '../virtio/driver-queue';
import {
  DeviceStatus,
  deviceFaultSyscall,
  QueueState,
  RegionHeaderOff,
  ringErrorName,
} from '../virtio/layout';
import type { Region } from '../virtio/region';
import type { Backend } from './options';

/** Events of a Device: its faults (ring errors, backend lost, device failed) and its close. */
export interface DeviceEvents {
  ringError: [CondisError];
  backendLost: [CondisError];
  deviceFailed: [CondisError];
  /** The device has stopped (close() or destroy()): its thread touches no ring any more. Once. */
  close: [];
}

/**
 * A virtio network device (the hardware): its shared region with every virtqueue, the native I/O
 * thread serving them, and its TAP or wire. close() drains, destroy() aborts; both idempotent.
 */
export class Device extends EventEmitter<DeviceEvents> {
  readonly backend: Backend;
  readonly region: Region;
  /** receiveq of pair k (virtio queue 2k). */
  readonly rx: DriverQueue[];
  /** transmitq of pair k (virtio queue 2k+1). */
  readonly tx: DriverQueue[];
  /** Buffer pool of virtio queue q (its own slice of the region's pool). */
  readonly pools: BufferPool[];
  /** Runs on every coalesced interrupt, after status checks. Set by the driver (miniport, port). */
  onInterrupt: (() => void) | null = null;
  private nat: NativeDevice | null;
  private seenGeneration = 0;
  private readonly reported: Uint8Array;
  private lostReported = false;
  private failedReported = false;
  private closing: Promise<void> | null = null;

  /** @internal use openTap / openWirePair / openDevice. */
  constructor(backend: Backend, region: Region) {
    super();
    this.backend = backend;
    this.region = region;
    this.rx = [];
    this.tx = [];
    this.pools = [];
    for (let q = 0; q < region.numQueues; q++) {
      const dq = new DriverQueue(region, q);
      dq.onBroken = this.reportDriverRingError;
      if (q % 2 === 0) this.rx.push(dq);
      else this.tx.push(dq);
      const pool = new BufferPool(
        region,
        region.slotBase + q * region.buffersPerQueue,
        region.buffersPerQueue,
      );
      this.pools.push(pool);
      region.owners.push(pool);
    }
    this.reported = new Uint8Array(region.numQueues);
    this.nat = null;
  }

  /** @internal */
  attach(nat: NativeDevice): void {
    this.nat = nat;
  }

  /**
   * A DriverQueue stopped on an impossible used ring (ERR_CONDIS_RING_USED_*): the same
   * 'ringError' as a queue the device failed, on a microtask, so listeners (the miniport resets
   * the queue or aborts a drain) run after the harvest loop that found it has ended.
   */
  private readonly reportDriverRingError = (err: CondisError): void => {
    queueMicrotask(() => this.emit('ringError', err));
  };

  /** @internal the addon's interrupt callback. */
  readonly interrupt = (): void => {
    if (this.nat === null) return;
    const u32 = this.region.u32;
    // ORDERING: seq-cst load; the device bumps the generation after writing a status.
    const gen = Atomics.load(u32, RegionHeaderOff.configGeneration >>> 2);
    if (gen !== this.seenGeneration) {
      this.seenGeneration = gen;
      this.checkStatus();
    }
    this.onInterrupt?.();
  };

  get closed(): boolean {
    return this.nat === null;
  }

  get queuePairs(): number {
    return this.region.queuePairs;
  }

  /** Publishes what was added to `queue` and kicks the device if it asked for it (event index). */
  publish(queue: DriverQueue): void {
    if (queue.publish() && this.nat !== null) this.nat.kick(queue.index);
  }

  kick(q: number): void {
    this.native().kick(q);
  }

  /** Steers VID `vid` (1..4094) to queue pair `pair` (1..N-1): tag inserted on transmit, stripped on receive. */
  bindPair(pair: number, vid: number): void {
    this.call((n) => n.bindPair(pair, vid));
  }

  unbindPair(pair: number): void {
    this.call((n) => n.unbindPair(pair));
  }

  /**
   * Virtio 1.2 queue reset of virtio queue q: the device stops using it and every buffer that was
   * in flight is the driver's again. Writes their tokens to `out` and returns how many.
   */
  resetQueue(q: number, out: Uint32Array): number {
    const dq = q % 2 === 0 ? this.rx[q >>> 1] : this.tx[q >>> 1];
    if (dq === undefined) throw new CondisError('ERR_CONDIS_INVALID_ARG', `no queue ${q}`, { queue: q });
    this.call((n) => n.resetQueue(q, true));
    const count = dq.reclaimAfterReset(out);
    this.call((n) => n.resetQueue(q, false));
    this.reported[q] = 0;
    return count;
  }

  /**
   * Stops receiving on queue pair `pair`, as a deactivation's first step: one native call disables
   * its receive queue (virtio 1.2 queue reset) while the transmit queue keeps going and the VID
   * stays bound for it; the host's frames for the VID are dropped from now on (counted as the
   * pair's rxNoBuffer). Reclaims the ring (the tokens of the buffers it held go to `out`) and
   * returns [reclaimed, discarded]: discarded = frames the device had placed and the driver never
   * harvested. bindPair (or stopPair, then bindPair) enables the queue again.
   */
  stopReceive(pair: number, out: Uint32Array): [number, number] {
    const rx = this.rx[pair];
    if (rx === undefined) throw new CondisError('ERR_CONDIS_INVALID_ARG', `no queue pair ${pair}`, { pair });
    const usedAtStop = this.call((n) => n.resetQueue(2 * pair, true));
    this.reported[2 * pair] = 0;
    const discarded = rx.usedBefore(usedAtStop);
    return [rx.reclaimAfterReset(out), discarded];
  }

  /**
   * Stops queue pair `pair` at once, as a deactivation's last step: one native call unbinds its
   * VID (the host's frames for it are dropped and counted from now on) and disables both queues
   * (virtio 1.2 queue reset); then the driver side reclaims both rings. The tokens of the chains
   * that were in flight go to rxOut / txOut; returns [rxCount, txCount]. bindPair re-enables the
   * queues.
   */
  quiescePair(pair: number, rxOut: Uint32Array, txOut: Uint32Array): [number, number] {
    this.stopPair(pair);
    return [this.rx[pair]!.reclaimAfterReset(rxOut), this.tx[pair]!.reclaimAfterReset(txOut)];
  }

  /**
   * The device half of quiescePair alone: unbind + disable both queues, one native call. The
   * device never touches the pair again until bindPair; the driver reclaims each ring (with
   * DriverQueue.reclaimAfterReset) when it suits it, but before the pair's next bindPair.
   * Returns how many received frames the stop discarded (published, never harvested), so the
   * driver can count them.
   */
  stopPair(pair: number): number {
    const rx = this.rx[pair];
    if (rx === undefined || this.tx[pair] === undefined) {
      throw new CondisError('ERR_CONDIS_INVALID_ARG', `no queue pair ${pair}`, { pair });
    }
    const usedAtStop = this.call((n) => n.quiescePair(pair));
    this.reported[2 * pair] = 0;
    this.reported[2 * pair + 1] = 0;
    // Frames the device had placed in receive buffers and the driver had not harvested yet: the
    // reset discards them (their buffers come back with the reclaim).
    return rx.usedBefore(usedAtStop);
  }

  setLink(up: boolean): void {
    this.call((n) => n.setLink(up));
  }

  setMtu(mtu: number): void {
    this.call((n) => n.setMtu(mtu));
  }

  stats(): NativeStats {
    return this.call((n) => n.stats());
  }

  info(): NativeInfo {
    return this.call((n) => n.info());
  }

  /** Keep (default) or stop keeping the Node event loop alive while the device is open. */
  ref(): void {
    this.nat?.ref();
  }

  unref(): void {
    this.nat?.unref();
  }

  /**
   * Transmits what was posted (bounded by timeoutMs), then stops the device and releases the TAP.
   * Idempotent; resolves on a later turn, never synchronously.
   */
  close(timeoutMs = 1000): Promise<void> {
    if (this.closing) return this.closing;
    const nat = this.nat;
    this.nat = null;
    this.closing = new Promise((resolve) => {
      setImmediate(() => {
        nat?.close(true, timeoutMs);
        resolve();
        if (nat) this.emit('close');
      });
    });
    return this.closing;
  }

  /**
   * `await using dev = openWirePair()[0]` (or a TAP): close() at the end of the scope. close()'s
   * drain is a bounded wait inside the addon (timeoutMs), not abortable from JS: destroy() is
   * the way to stop without it.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Stops the device now, abandoning whatever was posted. Idempotent. */
  destroy(): void {
    const nat = this.nat;
    this.nat = null;
    nat?.close(false, 0);
    if (!this.closing) this.closing = Promise.resolve();
    // Stopped now; the listeners hear it in a later turn (never from inside destroy()). Only
    // when someone listens: the deferred call holds the Device, and with it the region, until the
    // event loop turns, and a synchronous open/destroy loop would hold every region it made.
    if (nat && this.listenerCount('close') > 0) setImmediate(() => this.emit('close'));
  }

  /**
   * TEST ONLY: makes the device's I/O thread fail for real (NativeDevice.testBreakEpoll in
   * lib/native.ts), so tests can watch the failure path: 'deviceFailed', stats().threadFailures,
   * sends completed with TxStatus.DeviceFailed. The device stays broken.
   * @internal
   */
  testBreakEpoll(): void {
    this.call((n) => n.testBreakEpoll());
  }

  /**
   * TEST ONLY: holds (or releases) every transmit queue (NativeDevice.testHoldTx in
   * lib/native.ts), so a fault test has sends in flight deterministically.
   * @internal
   */
  testHoldTx(hold: boolean): void {
    this.call((n) => n.testHoldTx(hold));
  }

  private native(): NativeDevice {
    if (this.nat === null) throw new CondisError('ERR_CONDIS_DEVICE_CLOSED', 'the device is closed');
    return this.nat;
  }

  private call<T>(f: (n: NativeDevice) => T): T {
    const n = this.native();
    try {
      return f(n);
    } catch (e) {
      throw fromNative(e);
    }
  }

  private checkStatus(): void {
    const u32 = this.region.u32;
    // ORDERING: seq-cst loads after the generation load above.
    const status = Atomics.load(u32, RegionHeaderOff.deviceStatus >>> 2);
    if (status === DeviceStatus.BackendLost && !this.lostReported) {
      this.lostReported = true;
      const errno = Atomics.load(u32, RegionHeaderOff.deviceErrno >>> 2);
      const err = new CondisError(
        'ERR_CONDIS_BACKEND_LOST',
        `${this.backend} backend lost (errno ${errno}): the interface was deleted or failed; frames now fail`,
        { errno },
      );
      this.emit('backendLost', err);
    }
    if (status === DeviceStatus.Failed && !this.failedReported) {
      this.failedReported = true;
      // ORDERING: seq-cst loads; the device wrote errno and fault before the status (release).
      const errno = Atomics.load(u32, RegionHeaderOff.deviceErrno >>> 2);
      const syscall = deviceFaultSyscall(Atomics.load(u32, RegionHeaderOff.deviceFault >>> 2));
      const name = errno > 0 ? getSystemErrorName(-errno) : 'no errno';
      const err = new CondisError(
        'ERR_CONDIS_DEVICE_FAILED',
        `${this.backend} device failed: its I/O thread stopped because ${syscall} failed (${name}); every send now fails, nothing is received; close or destroy it`,
        { errno, syscall },
      );
      err.errno = -errno;
      err.syscall = syscall;
      this.emit('deviceFailed', err);
    }
    for (let q = 0; q < this.region.numQueues; q++) {
      const dq = q % 2 === 0 ? this.rx[q >>> 1]! : this.tx[q >>> 1]!;
      const s = dq.status();
      if (s.state === QueueState.NeedsReset && this.reported[q] === 0) {
        this.reported[q] = 1;
        const err = new CondisError(
          ringErrorCode(s.error),
          `queue ${q} (${q % 2 === 0 ? 'receiveq' : 'transmitq'} ${q >>> 1}) needs reset: ${ringErrorName(s.error)} at ${s.detail}`,
          { queue: q, error: s.error, detail: s.detail },
        );
        this.emit('ringError', err);
      }
    }
  }
}
