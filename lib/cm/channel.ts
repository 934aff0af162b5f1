/**
 * Where signalling frames go in and out. The call-control engine (call-control.ts) only sees this
 * interface; two implementations:
 * - `SignallingVc` (signalling-vc.ts): the stand-alone call manager's signalling VC, an ordinary
 *   NDIS VC created with a NULL address family (spec §3.7, visible to NDIS);
 * - `PortSignallingChannel` (below): queue pair 0 of the device driven directly, untagged, with
 *   no NDIS VC and no handle: the MCM's internal signalling channel (spec §1.1, E67).
 */
import type { Device } from '../device/device';
import { FramePort } from '../device/port';
import type { CondisError } from '../errors';

export interface SignallingChannel {
  /** Transmit one frame (the channel copies it). False if it could not be queued (counted as lost). */
  send(frame: Uint8Array): boolean;
  /** Set by the engine: called with each received frame (valid only during the call). */
  onFrame: ((bytes: Uint8Array, offset: number, length: number) => void) | null;
}

/**
 * Who lends the device's interrupt to a channel, and repairs its queues: MiniportAdapter (its hook
 * list, and its 'ringError' handling, which resets a failed queue of the channel's pair through
 * the driver named with setPairDriver and reports it as a 'queueReset').
 */
export interface InterruptSharing {
  addInterruptHook(hook: () => void): void;
  removeInterruptHook(hook: () => void): void;
  setPairDriver(pair: number, driver: { resetQueue(q: number): number } | null): void;
}

/**
 * Queue pair 0 of a device, untagged, driven with a FramePort. With `interrupts` (an MCM: the
 * embedded miniport owns the device's one interrupt callback and its ring errors), the channel
 * adds a hook to it, so one coalesced interrupt services the VCs' pairs, then pair 0, and names
 * its port as pair 0's driver, so a failed queue of pair 0 is reset (FramePort.resetQueue) and
 * signalling goes on; alone on a device, it takes the device's callback and listens for its ring
 * errors itself. close() gives both back either way.
 */
export class PortSignallingChannel implements SignallingChannel {
  readonly port: FramePort;
  onFrame: ((bytes: Uint8Array, offset: number, length: number) => void) | null = null;
  /** Frames the transmitq could not take (signalling retransmits; nothing waits here). */
  lost = 0;
  private readonly onInterrupt = (): void => {
    this.port.poll();
  };
  /** Alone on the device: a failed queue of pair 0 is reset here (the same repair as an MCM's). */
  private readonly onRingError = (err: CondisError): void => {
    const q = err.details.queue as number | undefined;
    if (q !== 0 && q !== 1) return;
    // Once per fault (DriverQueue.faultStands), and not on a device that has stopped.
    if ((q === 0 ? this.port.rxq : this.port.txq).faultStands(err) && !this.device.closed)
      this.port.resetQueue(q);
  };
  private closed = false;

  constructor(
    readonly device: Device,
    private readonly interrupts?: InterruptSharing,
  ) {
    this.port = new FramePort(device, 0);
    this.port.onFrame = (bytes, off, len) => this.onFrame?.(bytes, off, len);
    if (interrupts) {
      interrupts.addInterruptHook(this.onInterrupt);
      interrupts.setPairDriver(0, this.port);
    } else {
      device.onInterrupt = this.onInterrupt;
      device.on('ringError', this.onRingError);
    }
    this.port.postRx();
    // Ask for the first interrupts on both queues of the pair.
    this.port.poll();
  }

  send(frame: Uint8Array): boolean {
    if (this.closed || this.device.closed) return false;
    if (!this.port.send(frame)) {
      this.lost++;
      return false;
    }
    this.port.flush();
    return true;
  }

  /** Stops servicing pair 0 on interrupts and repairing it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.interrupts) {
      this.interrupts.removeInterruptHook(this.onInterrupt);
      this.interrupts.setPairDriver(0, null);
    } else {
      if (this.device.onInterrupt === this.onInterrupt) this.device.onInterrupt = null;
      this.device.off('ringError', this.onRingError);
    }
  }
}
