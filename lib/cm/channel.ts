/**
 * Where signalling frames go in and out. The call-control engine (call-control.ts) only sees this
 * interface; two implementations:
 * - `SignallingVc` (signalling-vc.ts): the stand-alone call manager's signalling VC, an ordinary
 *   NDIS VC created with a NULL address family (spec §3.7, visible to NDIS);
 * - `PortSignallingChannel` (below): queue pair 0 of the device driven directly, untagged, with
 *   no NDIS VC and no handle: the MCM's internal signalling channel (spec §1.1, E67).
 */
import type { Device } from '../device';
import { FramePort } from '../device/port';

export interface SignallingChannel {
  /** Transmit one frame (the channel copies it). False if it could not be queued (counted as lost). */
  send(frame: Uint8Array): boolean;
  /** Set by the engine: called with each received frame (valid only during the call). */
  onFrame: ((bytes: Uint8Array, offset: number, length: number) => void) | null;
}

/**
 * Queue pair 0 of a device, untagged, driven with a FramePort. The device has one interrupt
 * callback and the miniport owns it, so the channel chains itself after the miniport's handler
 * (and unchains on close): one coalesced interrupt services the VCs' pairs, then pair 0.
 */
export class PortSignallingChannel implements SignallingChannel {
  readonly port: FramePort;
  onFrame: ((bytes: Uint8Array, offset: number, length: number) => void) | null = null;
  /** Frames the transmitq could not take (signalling retransmits; nothing waits here). */
  lost = 0;
  private readonly previous: (() => void) | null;
  private readonly onInterrupt = (): void => {
    this.previous?.();
    this.port.poll();
  };
  private closed = false;

  constructor(readonly device: Device) {
    this.port = new FramePort(device, 0);
    this.port.onFrame = (bytes, off, len) => this.onFrame?.(bytes, off, len);
    this.previous = device.onInterrupt;
    device.onInterrupt = this.onInterrupt;
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

  /** Unchains from the device's interrupt. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.device.onInterrupt === this.onInterrupt) this.device.onInterrupt = this.previous;
  }
}
