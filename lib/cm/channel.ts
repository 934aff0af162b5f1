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

export interface SignallingChannel {
  /** Transmit one frame (the channel copies it). False if it could not be queued (counted as lost). */
  send(frame: Uint8Array): boolean;
  /** Set by the engine: called with each received frame (valid only during the call). */
  onFrame: ((bytes: Uint8Array, offset: number, length: number) => void) | null;
}

/** Who lends the device's interrupt to a channel: MiniportAdapter's hook list. */
export interface InterruptSharing {
  addInterruptHook(hook: () => void): void;
  removeInterruptHook(hook: () => void): void;
}

/**
 * Queue pair 0 of a device, untagged, driven with a FramePort. With `interrupts` (an MCM: the
 * embedded miniport owns the device's one interrupt callback), the channel adds a hook to it, so
 * one coalesced interrupt services the VCs' pairs, then pair 0; alone on a device, it takes the
 * device's callback itself. close() gives it back either way.
 */
export class PortSignallingChannel implements SignallingChannel {
  readonly port: FramePort;
  onFrame: ((bytes: Uint8Array, offset: number, length: number) => void) | null = null;
  /** Frames the transmitq could not take (signalling retransmits; nothing waits here). */
  lost = 0;
  private readonly onInterrupt = (): void => {
    this.port.poll();
  };
  private closed = false;

  constructor(
    readonly device: Device,
    private readonly interrupts?: InterruptSharing,
  ) {
    this.port = new FramePort(device, 0);
    this.port.onFrame = (bytes, off, len) => this.onFrame?.(bytes, off, len);
    if (interrupts) interrupts.addInterruptHook(this.onInterrupt);
    else device.onInterrupt = this.onInterrupt;
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

  /** Stops servicing pair 0 on interrupts. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.interrupts) this.interrupts.removeInterruptHook(this.onInterrupt);
    else if (this.device.onInterrupt === this.onInterrupt) this.device.onInterrupt = null;
  }
}
